"""A group's price details: fetched by the admin's price check and the setup check, shown."""

import pytest

from members.models import MemberGroup
from payments.models import StripeSettings
from payments.prices import describe_price

CHANGELIST = "/admin/members/membergroup/"
ADD = "/admin/members/membergroup/add/"


@pytest.fixture
def on_emulator(stripe_keys_on_emulator, emulator):
    return emulator


def make_price(stripe_client, *, name="Basic", amount=1000, currency="jpy", interval="month",
               interval_count=1):
    product = stripe_client.v1.products.create(params={"name": name})
    return stripe_client.v1.prices.create(params={
        "product": product.id, "unit_amount": amount, "currency": currency,
        "recurring": {"interval": interval, "interval_count": interval_count},
    }).id


def test_saving_a_group_stores_and_shows_its_price_details(staff_client, on_emulator,
                                                           stripe_client):
    price_id = make_price(stripe_client)

    response = staff_client.post(ADD, {"name": "Basic members", "description": "",
                                       "stripe_price_id": price_id})

    assert response.status_code == 302, response.content.decode()[:2000]
    group = MemberGroup.objects.get(name="Basic members")
    assert group.price_product_name == "Basic"
    assert group.price_unit_amount == 1000
    assert group.price_currency == "jpy"
    assert group.price_interval == "month"
    assert group.price_interval_count == 1
    assert group.price_checked_at is not None
    assert "Basic — 1,000 JPY / month" in staff_client.get(CHANGELIST).content.decode()
    editor = staff_client.get(f"{CHANGELIST}{group.pk}/change/").content.decode()
    assert "Basic — 1,000 JPY / month" in editor


def test_removing_the_price_clears_the_details(staff_client, on_emulator, stripe_client):
    price_id = make_price(stripe_client)
    staff_client.post(ADD, {"name": "Basic members", "description": "",
                            "stripe_price_id": price_id})
    group = MemberGroup.objects.get(name="Basic members")

    response = staff_client.post(f"{CHANGELIST}{group.pk}/change/",
                                 {"name": "Basic members", "description": "",
                                  "stripe_price_id": ""})

    assert response.status_code == 302
    group.refresh_from_db()
    assert (group.price_product_name, group.price_unit_amount, group.price_currency,
            group.price_interval, group.price_interval_count, group.price_checked_at) == (
        "", None, "", "", None, None)


def test_setup_check_fills_in_the_details(on_emulator, stripe_client):
    from payments.setup_checks import check_setup

    price_id = make_price(stripe_client, name="Yearly", amount=12000, currency="usd",
                          interval="year")
    group = MemberGroup.objects.create(name="Yearly members", stripe_price_id=price_id)

    check_setup(StripeSettings.load(), "http://testserver/direct/stripe/webhook/")

    group.refresh_from_db()
    assert (group.price_product_name, group.price_unit_amount, group.price_currency,
            group.price_interval, group.price_interval_count) == (
        "Yearly", 12000, "usd", "year", 1)
    assert group.price_checked_at is not None


@pytest.mark.parametrize(("fields", "label"), [
    ({"price_product_name": "Basic", "price_unit_amount": 1000, "price_currency": "jpy",
      "price_interval": "month", "price_interval_count": 1}, "Basic — 1,000 JPY / month"),
    ({"price_product_name": "Pro", "price_unit_amount": 1250, "price_currency": "usd",
      "price_interval": "month", "price_interval_count": 3}, "Pro — 12.50 USD / 3 months"),
    ({"price_product_name": "", "price_unit_amount": 99000, "price_currency": "eur",
      "price_interval": "year", "price_interval_count": 1}, "990.00 EUR / year"),
    ({}, ""),
])
def test_describe_price(fields, label):
    assert describe_price(MemberGroup(name="g", **fields)) == label
