"""Stripe failing in each way the emulator can fail: nothing half-made, and a retry works.

The app runs on live_server, Stripe is the emulator over HTTP with injected faults
(``POST /_emulator/faults``). tests/billing/test_checkout_flow.py already covers
500/429/drop on checkout and a 500 on cancel; this file fills the gaps: hangs past
STRIPE_TIMEOUT_SECONDS on every checkout call, every fault on cancel, the admin's setup
check with a failing /v1/account, and a webhook whose tie-break fetch fails.
"""

from __future__ import annotations

import time

import pytest
import requests

from members.models import Member
from payments.models import SubscriptionState, WebhookEvent
from tests.fixtures.accounts import MEMBER_PASSWORD
from tests.fixtures.billing import make_event, make_subscription, pay, post_event, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

HANG_SECONDS = 3
SETTINGS_URL = "/admin/payments/stripesettings/1/change/"


class Shopper:
    """A member on the checkout API over real HTTP, same origin, session cookie."""

    def __init__(self, site_url: str, api, email: str, password: str) -> None:
        self.base = f"{site_url}/rcms-api/{api.pk}"
        self.http = requests.Session()
        self.http.headers["Origin"] = site_url
        answer = self.post("login", {"email": email, "password": password})
        assert answer.status_code == 200, answer.text

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return self.http.post(f"{self.base}/{path}", json=body or {}, timeout=60)


@pytest.fixture
def shopper(stripe_enabled, checkout_api, member, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 1
    return Shopper(stripe_enabled.site_url, checkout_api, member.email, MEMBER_PASSWORD)


def envelope_error(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["x-rcms-request-id"]
    assert "Traceback" not in response.text and "sk_test" not in response.text
    return body["errors"][0]


def customers(stripe_client) -> list:
    return list(stripe_client.v1.customers.list(params={"limit": 100}).data)


def sessions(stripe_client) -> list:
    return list(stripe_client.v1.checkout.sessions.list(params={"limit": 100}).data)


def hang(setup, path: str, method: str) -> None:
    setup.post("/_emulator/faults", path=path, method=method, mode="hang", count=1,
               seconds=HANG_SECONDS)


def test_checkout_hanging_past_the_timeout_answers_502_then_retry_succeeds(
    stripe_enabled, shopper, member
):
    # A checkout makes one Stripe call, the session create (Checkout makes the customer).
    hang(stripe_enabled, "/v1/checkout/sessions", "POST")
    started = time.monotonic()

    response = shopper.post("stripe/checkout")

    assert time.monotonic() - started < HANG_SECONDS  # gave up at the timeout, not the hang
    error = envelope_error(response, 502)
    assert error["code"] == "bad_gateway"
    member.refresh_from_db()
    assert customers(stripe_enabled.client) == []
    assert member.stripe_customer_id is None
    assert sessions(stripe_enabled.client) == []
    assert member.stripe_subscription_id is None

    retry = shopper.post("stripe/checkout")

    assert retry.status_code == 200, retry.text
    assert [s.url for s in sessions(stripe_enabled.client)] == [retry.json()["url"]]
    assert customers(stripe_enabled.client) == []  # made by Checkout when the member pays


def subscribed(stripe_enabled, shopper, member) -> Member:
    answer = shopper.post("stripe/checkout")
    assert answer.status_code == 200, answer.text
    assert pay(answer.json()["url"]).status_code == 303
    stripe_enabled.drain()
    assert wait_for(lambda: Member.objects.get(pk=member.pk).stripe_subscription_id)
    return Member.objects.get(pk=member.pk)


@pytest.mark.parametrize("mode", ["429", "hang", "drop"])
def test_cancel_fault_changes_nothing_and_retry_succeeds(stripe_enabled, basic_price, shopper,
                                                         member, mode):
    _, gold = basic_price
    member = subscribed(stripe_enabled, shopper, member)
    subscription_id = member.stripe_subscription_id
    stripe_enabled.post("/_emulator/faults", path=f"/v1/subscriptions/{subscription_id}",
                        method="DELETE", mode=mode, count=1, seconds=HANG_SECONDS)

    response = shopper.post("stripe/cancel")

    assert envelope_error(response, 502)["code"] == "bad_gateway"
    member.refresh_from_db()
    assert member.stripe_subscription_id == subscription_id
    assert list(member.member_groups.all()) == [gold]
    assert stripe_enabled.client.v1.subscriptions.retrieve(subscription_id).status == "active"
    assert not SubscriptionState.objects.filter(subscription_id=subscription_id,
                                                deleted=True).exists()

    retry = shopper.post("stripe/cancel")

    assert retry.status_code == 200, retry.text
    assert retry.json()["subscription_id"] == subscription_id
    stripe_enabled.drain()
    member.refresh_from_db()
    assert member.stripe_subscription_id is None
    assert not member.memberships.exists()
    assert stripe_enabled.client.v1.subscriptions.retrieve(subscription_id).status == "canceled"


@pytest.mark.parametrize("mode", ["500", "429", "drop"])
def test_setup_check_with_stripe_failing_is_a_message_not_a_500(
    client, admin_user, emulator, settings, mode
):
    from payments.models import StripeSettings

    settings.STRIPE_API_BASE = emulator.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    config = StripeSettings.load()
    config.secret_key, config.publishable_key = emulator.secret_key, emulator.publishable_key
    config.webhook_secret = "whsec_reliability_setup"
    config.save()
    requests.post(f"{emulator.url}/_emulator/faults", timeout=10,
                  data={"path": "/v1/account", "method": "GET", "mode": mode, "count": 5})
    client.force_login(admin_user)

    response = client.post(SETTINGS_URL, {
        "enabled": "on", "publishable_key": emulator.publishable_key, "secret_key": "",
        "webhook_secret": "", "previous_webhook_secret": "",
        "previous_webhook_secret_expires_at_0": "", "previous_webhook_secret_expires_at_1": "",
    }, follow=True)

    assert response.status_code == 200
    # Enabling with a key Stripe could not confirm is refused: the form says why.
    errors = response.context["adminform"].form.non_field_errors()
    assert errors
    assert any("secret key" in text.lower() for text in errors), errors
    assert emulator.secret_key not in response.content.decode()
    assert not StripeSettings.load().enabled  # nothing saved until Stripe confirms the key


def test_webhook_tie_with_stripe_failing_answers_500_then_the_retry_applies(
    client, stripe_enabled, basic_price, shopper, member
):
    """Two events in one second need a fetch; Stripe failing then must not half-apply."""
    price_id, gold = basic_price
    member = subscribed(stripe_enabled, shopper, member)
    subscription_id = member.stripe_subscription_id
    state = SubscriptionState.objects.get(subscription_id=subscription_id)
    # Claims "unpaid" in the same second as the last applied event: only a fetch from
    # Stripe (which says active) can tell which is newer. ("canceled" would not do: it is
    # final whatever the order, so it needs no fetch.)
    tie = make_event(
        make_subscription(subscription_id, customer=member.stripe_customer_id,
                          status="unpaid", prices=[price_id]),
        created=state.last_event_created,
    )
    stripe_enabled.fault(f"/v1/subscriptions/{subscription_id}", method="GET", mode="500")

    failed = post_event(client, tie, stripe_enabled.webhook_secret)

    assert failed.status_code == 500, failed.content  # Stripe retries a 5xx
    assert failed.json()["errors"] == [
        {"code": "internal_server_error", "message": "Processing failed; Stripe will retry."}
    ]
    row = WebhookEvent.objects.get(event_id=tie["id"])
    assert (row.status, row.attempts) == ("failed", 1)
    assert "sk_test" not in row.error
    member.refresh_from_db()
    assert member.stripe_subscription_id == subscription_id
    assert list(member.member_groups.all()) == [gold]

    retried = post_event(client, tie, stripe_enabled.webhook_secret)

    assert retried.status_code == 200, retried.content
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("processed", 2)
    member.refresh_from_db()
    assert member.stripe_subscription_id == subscription_id  # Stripe said active
    assert list(member.member_groups.all()) == [gold]
