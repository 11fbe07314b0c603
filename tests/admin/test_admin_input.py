"""Input the admin forms accepted and something broke later: refused, or stored so it works."""

from __future__ import annotations

import pytest

from kuroco_billing.rcms_api.models import Endpoint
from tests.fixtures.accounts import MEMBER_PASSWORD, api_login, post_json

from .endpoint_form import endpoint_form
from .test_apis import api_data, rows_of
from .test_stripe_settings import FORM_URL, form_data

pytestmark = pytest.mark.django_db

ENDPOINT_ADD = "/admin/rcms_api/endpoint/add/"


def test_a_trial_longer_than_stripe_allows_is_refused(staff_client, cookie_api, priced_groups):
    """Stripe takes at most 730 days; every checkout would then be refused (422)."""
    response = staff_client.post(ENDPOINT_ADD, endpoint_form(
        cookie_api, path="stripe/checkout", operation="checkout", products_list="price_gold1",
        return_url="https://www.example.com/thanks", trial_period_days="731"))

    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 730." in response.content.decode()
    assert not Endpoint.objects.filter(api=cookie_api, path="stripe/checkout").exists()


def test_a_token_lifetime_past_the_calendar_is_refused(staff_client, client, token_api,
                                                       member):
    token = token_api.endpoints.get(operation="token")
    response = staff_client.post(f"/admin/rcms_api/endpoint/{token.pk}/change/", endpoint_form(
        token_api, path="token", operation="token", access_token_lifetime="300000000000"))

    assert response.status_code == 200  # refused, not saved
    login = api_login(client, token_api, member.email, MEMBER_PASSWORD)
    exchanged = post_json(client, f"/rcms-api/{token_api.pk}/token",
                          {"grant_token": login["grant_token"]})
    assert exchanged.status_code == 200, exchanged.content[:200]


@pytest.mark.parametrize(("typed", "browser_sends"), [
    ("https://App.Example.com", "https://app.example.com"),
    ("HTTPS://app.example.com", "https://app.example.com"),
    ("https://app.example.com:443", "https://app.example.com"),
    ("http://app.example.com:80", "http://app.example.com"),
])
def test_a_cors_origin_is_stored_as_a_browser_sends_it(staff_client, client, cookie_api,
                                                       member, typed, browser_sends):
    response = staff_client.post(f"/admin/rcms_api/api/{cookie_api.pk}/change/",
                                 api_data(cookie_api, rows_of(cookie_api),
                                          cors_allowed_origins=typed))
    assert response.status_code == 302
    cookie_api.refresh_from_db()
    assert cookie_api.cors_allowed_origins == browser_sends

    login = post_json(client, f"/rcms-api/{cookie_api.pk}/login",
                      {"email": member.email, "password": MEMBER_PASSWORD},
                      HTTP_ORIGIN=browser_sends)
    assert login.status_code == 200, login.content[:200]


@pytest.mark.parametrize("origin", ["https://app.example.com:99999", "https://app.example.com:0",
                                    "https://-..", "https://app..example.com"])
def test_an_origin_no_browser_can_send_is_refused(staff_client, cookie_api, origin):
    response = staff_client.post(f"/admin/rcms_api/api/{cookie_api.pk}/change/",
                                 api_data(cookie_api, rows_of(cookie_api),
                                          cors_allowed_origins=origin))
    assert response.status_code == 200
    cookie_api.refresh_from_db()
    assert cookie_api.cors_allowed_origins != origin


def test_the_api_page_cannot_turn_an_endpoint_into_a_checkout_without_its_urls(
        staff_client, cookie_api, priced_groups):
    plans = Endpoint.objects.create(api=cookie_api, path="stripe/plans", operation="plans",
                                    parameters={"products_list": ["price_gold1"]})
    rows = [{**row, "operation": "checkout"} if row["id"] == plans.pk else row
            for row in rows_of(cookie_api)]

    response = staff_client.post(f"/admin/rcms_api/api/{cookie_api.pk}/change/",
                                 api_data(cookie_api, rows))

    assert response.status_code == 200
    plans.refresh_from_db()
    assert plans.operation == "plans"


def test_a_previous_webhook_secret_already_expired_is_refused(staff_client):
    response = staff_client.post(FORM_URL, form_data(
        previous_webhook_secret="whsec_OldSigningSecret1111",
        previous_webhook_secret_expires_at_0="2020-01-01",
        previous_webhook_secret_expires_at_1="00:00:00"))

    assert response.status_code == 200
    assert "already passed" in response.content.decode()


def test_a_previous_secret_that_expired_since_blocks_no_other_change(staff_client):
    """Checked when it is entered, not on every later save (say, turning payments off)."""
    import datetime

    from django.utils import timezone

    from payments.models import StripeSettings

    config = StripeSettings.load()
    config.previous_webhook_secret = "whsec_OldSigningSecret1111"
    config.previous_webhook_secret_expires_at = timezone.now() - datetime.timedelta(days=1)
    config.save()

    response = staff_client.post(FORM_URL, form_data(
        previous_webhook_secret_expires_at_0=config.previous_webhook_secret_expires_at.strftime(
            "%Y-%m-%d"),
        previous_webhook_secret_expires_at_1=config.previous_webhook_secret_expires_at
        .strftime("%H:%M:%S")))

    assert response.status_code == 302


@pytest.mark.parametrize("url", [
    "/admin/members/member/?plan=abc",
    "/admin/members/member/?subscription_status=%00",
    "/admin/rcms_api/endpoint/?operation=%00",
    "/admin/payments/webhookevent/?status=%00",
    "/admin/members/member/?q=%00",
    # A date drill-down past C's long: Django catches only ValueError.
    "/admin/payments/webhookevent/?received_at__year=99999999999",
    "/admin/payments/refuseddelivery/?minute__year=99999999999",
    "/admin/axes/accesslog/?attempt_time__year=2026&attempt_time__month=99999999999",
    # The range's end is the next year (or day): past 9999-12-31.
    "/admin/payments/webhookevent/?received_at__year=9999",
    "/admin/payments/webhookevent/?received_at__year=9999&received_at__month=12"
    "&received_at__day=31",
    "/admin/axes/accesslog/?attempt_time__year=9999",
    # Digits to str.isdigit(), not to int().
    "/admin/members/member/?plan=%C2%B2", "/admin/members/member/?plan=%E2%91%A0",
])
def test_a_changelist_with_an_odd_filter_value_is_not_a_500(staff_client, priced_groups, url):
    response = staff_client.get(url)
    assert response.status_code in (200, 302, 400)


def test_the_member_lists_own_show_counts_link_works_with_plans(staff_client, priced_groups):
    """Facet counts pass each plan's key from lookups() (an integer), not a URL string."""
    page = staff_client.get("/admin/members/member/").content.decode()
    assert 'href="?_facets=True"' in page

    response = staff_client.get("/admin/members/member/?_facets=True")

    assert response.status_code == 200
    assert priced_groups[0].name in response.content.decode()
