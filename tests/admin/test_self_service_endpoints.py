"""The API editor's settings for the self-service operations, checked like checkout's."""

import pytest

from kuroco_billing.rcms_api.models import Api, Endpoint
from tests.admin.endpoint_form import endpoint_form

ENDPOINT_ADD = "/admin/rcms_api/endpoint/add/"


@pytest.fixture
def cookie_api(db):
    return Api.objects.create(title="Site", security="cookie")


def endpoint_data(api, **overrides):
    return endpoint_form(api, **overrides)


def errors_of(response) -> dict:
    return response.context["adminform"].form.errors


def test_change_plan_stores_products_and_proration(staff_client, cookie_api, priced_groups):
    response = staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api, path="stripe/change_plan", operation="change_plan",
        products_list="price_gold1\nprice_silver1", proration_behavior="always_invoice",
        return_url="https://www.example.com/ignored"))

    assert response.status_code == 302, errors_of(response)
    endpoint = Endpoint.objects.get(path="stripe/change_plan")
    assert endpoint.parameters == {"products_list": ["price_gold1", "price_silver1"],
                                   "proration_behavior": "always_invoice"}


@pytest.mark.parametrize(("products", "message"), [
    ("", "Enter at least one Stripe price ID"),
    ("gold", "Not a Stripe price ID"),
    ("price_nogroup1", "Not the price of any member group"),
])
@pytest.mark.parametrize("operation", ["plans", "change_plan"])
def test_plans_need_linked_prices(staff_client, cookie_api, priced_groups, operation, products,
                                  message):
    response = staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api, operation=operation, products_list=products))

    assert response.status_code == 200
    assert message in str(errors_of(response)["products_list"])
    assert not Endpoint.objects.exists()


def test_unknown_proration_is_refused(staff_client, cookie_api, priced_groups):
    response = staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api, operation="change_plan", products_list="price_gold1",
        proration_behavior="sometimes"))

    assert response.status_code == 200
    assert "proration_behavior" in errors_of(response)


def test_portal_needs_an_absolute_return_url(staff_client, cookie_api):
    missing = staff_client.post(ENDPOINT_ADD, endpoint_data(cookie_api, operation="portal"))
    relative = staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api, operation="portal", return_url="/account"))
    ok = staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api, operation="portal", return_url="https://www.example.com/account"))

    assert "return_url" in errors_of(missing) and "return_url" in errors_of(relative)
    assert ok.status_code == 302
    assert Endpoint.objects.get().parameters == {"return_url": "https://www.example.com/account"}


def test_cancel_order_at_period_end_is_stored_only_when_checked(staff_client, cookie_api):
    staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api, path="stripe/cancel", operation="cancel_order"))
    staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api, path="stripe/cancel_at_period_end", operation="cancel_order",
        at_period_end="on"))

    assert Endpoint.objects.get(path="stripe/cancel").parameters == {}
    assert Endpoint.objects.get(path="stripe/cancel_at_period_end").parameters == {
        "at_period_end": True}


def test_openapi_documents_the_new_operations(client, cookie_api, priced_groups):
    for path, operation in [("stripe/portal", "portal"), ("stripe/plans", "plans"),
                            ("stripe/change_plan", "change_plan"), ("stripe/resume", "resume"),
                            ("stripe/subscription", "subscription"),
                            ("stripe/invoices", "invoices")]:
        Endpoint.objects.create(api=cookie_api, path=path, operation=operation)

    document = client.get(f"/rcms-api/{cookie_api.pk}/openapi.json").json()

    paths = document["paths"]
    change = paths[f"/rcms-api/{cookie_api.pk}/stripe/change_plan"]["post"]
    assert "402" in change["responses"] and "409" in change["responses"]
    assert "get" in paths[f"/rcms-api/{cookie_api.pk}/stripe/invoices"]
    assert "get" in paths[f"/rcms-api/{cookie_api.pk}/stripe/subscription"]
    schemas = document["components"]["schemas"]
    # Each change_plan endpoint has its own component, listing the prices it offers.
    change_plan = [body for name, body in schemas.items() if name.startswith("ChangePlanRequest")]
    assert change_plan and all("price_id" in body["properties"] for body in change_plan)


def test_openapi_allows_exactly_the_prices_the_change_plan_endpoint_offers(client, cookie_api):
    import re

    Endpoint.objects.create(api=cookie_api, path="stripe/change_plan", operation="change_plan",
                            parameters={"products_list": ["price_Basic1", "price_Gold1"]})

    document = client.get(f"/rcms-api/{cookie_api.pk}/openapi.json").json()

    body = next(body for name, body in document["components"]["schemas"].items()
                if name.startswith("ChangePlanRequest"))
    pattern = re.compile(body["properties"]["price_id"]["pattern"])
    assert pattern.search("price_Basic1") and pattern.search("price_Gold1")
    assert not pattern.search("price_Other1")
    assert not pattern.search("price_Basic1x")
