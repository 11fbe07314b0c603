"""The setup check verifies that the Billing Portal allows the plans change_plan offers."""

import pytest

from kuroco_billing.rcms_api.models import Api, Endpoint
from members.models import MemberGroup
from payments.setup_checks import check_setup, portal_check

WEBHOOK_URL = "http://testserver/direct/stripe/webhook/"


@pytest.fixture
def config(stripe_keys_on_emulator):
    return stripe_keys_on_emulator


def monthly(stripe_client, name, amount):
    product = stripe_client.v1.products.create(params={"name": name})
    return stripe_client.v1.prices.create(params={
        "product": product.id, "unit_amount": amount, "currency": "jpy",
        "recurring": {"interval": "month"}})


def test_no_change_plan_endpoint_means_no_portal_check(config):
    assert portal_check(config) is None


def test_prices_the_portal_does_not_allow_are_named(config, stripe_client):
    gold, silver = monthly(stripe_client, "Gold", 1000), monthly(stripe_client, "Silver", 500)
    for name, price in (("Gold", gold), ("Silver", silver)):
        MemberGroup.objects.create(name=name, stripe_price_id=price.id)
    api = Api.objects.create(title="Site", security="cookie")
    Endpoint.objects.create(api=api, path="stripe/change_plan", operation="change_plan",
                            parameters={"products_list": [gold.id, silver.id]})

    result = portal_check(config)
    assert result.level == "warning"
    assert f"{gold.id}, {silver.id}" in result.message
    assert f"/rcms-api/{api.pk}/stripe/change_plan" in result.message
    assert result in check_setup(config, WEBHOOK_URL)

    [default] = stripe_client.v1.billing_portal.configurations.list(
        params={"is_default": True}).data
    stripe_client.v1.billing_portal.configurations.update(default.id, params={"features": {
        "subscription_update": {"enabled": True, "default_allowed_updates": ["price"],
                                "products": [{"product": gold.product, "prices": [gold.id]}]}}})
    partly = portal_check(config)
    assert partly.level == "warning" and silver.id in partly.message and gold.id not in (
        partly.message)

    stripe_client.v1.billing_portal.configurations.update(default.id, params={"features": {
        "subscription_update": {"products": [
            {"product": gold.product, "prices": [gold.id]},
            {"product": silver.product, "prices": [silver.id]}]}}})
    assert portal_check(config).level == "success"


def test_a_configuration_that_does_not_list_its_products_is_not_a_false_warning(
        config, stripe_client, emulator):
    """Stripe's schema makes features.subscription_update.products optional (its own
    example configurations leave it out): then nothing tells which prices are allowed,
    and the check says so instead of naming every offered price as refused."""
    from tests.billing.emulator_requests import watch

    gold = monthly(stripe_client, "Gold", 1000)
    MemberGroup.objects.create(name="Gold", stripe_price_id=gold.id)
    api = Api.objects.create(title="Site", security="cookie")
    Endpoint.objects.create(api=api, path="stripe/change_plan", operation="change_plan",
                            parameters={"products_list": [gold.id]})
    listed = stripe_client.v1.billing_portal.configurations.list(
        params={"is_default": True}).to_dict()
    default = listed["data"][0]
    update = default["features"]["subscription_update"]
    update.update(enabled=True, default_allowed_updates=["price"])
    del update["products"]  # as in Stripe's own example configuration
    watch(emulator).answers.append(("GET", "/v1/billing_portal/configurations", 200, listed))

    result = portal_check(config)

    assert result.level == "warning"
    assert result.message == (
        f"The Billing Portal ({default['id']}) allows plan switching, but Stripe did not say "
        f"to which products: check that it offers {gold.id} (Stripe: Settings → Billing → "
        "Customer portal).")
