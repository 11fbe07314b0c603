"""Checkout and cancel as intents: Stripe round trips, and the webhook racing a checkout.

The app runs on live_server against the emulator over real HTTP; the emulator's
request log (``emulator_requests.watch``) counts what Stripe was asked and runs
a webhook delivery at an exact point of a round trip.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from django.db import connection, transaction
from django.utils import timezone

from kuroco_billing.rcms_api.models import Endpoint
from members.models import Member, MemberGroup
from payments.models import CheckoutIntent, StripeSettings
from payments.services.checkout import close_open_sessions
from tests.fixtures.accounts import MEMBER_PASSWORD
from tests.fixtures.billing import WEBHOOK_PATH, create_recurring_price, pay, signature_header

from .emulator_requests import Hook, watch
from .test_checkout_flow import ApiClient, error_of, session_of, sessions

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = "/v1/checkout/sessions"


@pytest.fixture
def shopper(stripe_enabled, checkout_api, member):
    return ApiClient(stripe_enabled.site_url, checkout_api).login(member.email, MEMBER_PASSWORD)


@pytest.fixture
def silver(stripe_enabled, checkout_api):
    """A second checkout endpoint on the same API: another price, another return URL."""
    price_id = create_recurring_price(stripe_enabled.client, amount=500, name="Silver plan")
    MemberGroup.objects.create(name="Silver", stripe_price_id=price_id)
    Endpoint.objects.create(api=checkout_api, path="stripe/checkout-silver",
                            operation="checkout", parameters={
                                "products_list": [price_id],
                                "return_url": f"{stripe_enabled.site_url}/silver-thanks",
                            })
    return "stripe/checkout-silver"


@pytest.fixture
def stripe_log(emulator, stripe_enabled):
    return watch(emulator)


def open_sessions(stripe_client) -> list[str]:
    return [s.id for s in sessions(stripe_client) if s.status == "open"]


# --- One round trip ------------------------------------------------------------------

def test_round_trips_per_operation(stripe_enabled, stripe_log, shopper, member, silver):
    stripe_log.clear()
    first = shopper.checkout()
    assert first.status_code == 200, first.text
    assert stripe_log.calls() == [f"POST {SESSIONS}"]

    first_id = session_of(stripe_enabled.client, first.json()["url"]).id
    stripe_log.clear()
    again = shopper.checkout()  # a double click, a reload: the open session, once read
    assert again.json()["url"] == first.json()["url"]
    assert stripe_log.calls() == [f"GET {SESSIONS}/{first_id}"]

    # Another endpoint: its session, and the first one (known open here) expired.
    stripe_log.clear()
    other = shopper.post(silver)
    assert other.status_code == 200, other.text
    assert stripe_log.calls() == [f"POST {SESSIONS}", f"POST {SESSIONS}/{first_id}/expire"]

    assert pay(other.json()["url"]).status_code == 303
    stripe_enabled.drain()
    member.refresh_from_db()
    assert member.stripe_subscription_id and member.stripe_customer_id

    stripe_log.clear()
    cancel = shopper.cancel()
    assert cancel.status_code == 200, cancel.text
    assert stripe_log.calls() == [f"DELETE /v1/subscriptions/{member.stripe_subscription_id}"]


def test_a_repeat_for_a_stored_customer_is_one_call(stripe_enabled, stripe_log, shopper,
                                                    member):
    customer = stripe_enabled.client.v1.customers.create(params={"email": member.email})
    Member.objects.filter(pk=member.pk).update(stripe_customer_id=customer.id)
    stripe_log.clear()
    response = shopper.checkout()
    assert response.status_code == 200, response.text
    assert stripe_log.calls() == [f"POST {SESSIONS}"]
    session = session_of(stripe_enabled.client, response.json()["url"])
    assert (session.customer, session.customer_email) == (customer.id, None)


def test_a_session_made_with_other_stripe_keys_is_not_handed_out(stripe_enabled, stripe_log,
                                                                shopper, member):
    """An administrator switched the site's keys (test to live, another account): an open
    session of the old keys is not given to the member again; a new one is made."""
    first = shopper.checkout().json()["url"]
    config = StripeSettings.load()
    config.publishable_key = "pk_test_51AnotherAccount000000000000000000000000000"
    config.save()
    stripe_log.clear()

    again = shopper.checkout()

    assert again.status_code == 200, again.text
    assert again.json()["url"] != first
    assert stripe_log.calls()[0] == f"POST {SESSIONS}"
    assert CheckoutIntent.objects.filter(member=member, status="open").count() == 1


def test_a_known_session_close_to_expiry_is_not_handed_out(stripe_enabled, stripe_log,
                                                          shopper, member):
    first = shopper.checkout().json()["url"]
    CheckoutIntent.objects.filter(member=member).update(expires_at=1)  # about to expire
    stripe_log.clear()
    again = shopper.checkout().json()["url"]
    assert again != first
    assert stripe_log.calls()[0] == f"POST {SESSIONS}"
    assert open_sessions(stripe_enabled.client) == [
        session_of(stripe_enabled.client, again).id]


def test_two_checkouts_answered_at_once_leave_one_payable_session(
        stripe_enabled, stripe_log, checkout_api, member, silver):
    """Two tabs check out at the same moment; both Stripe answers come back while the
    member's row is locked (a webhook, say), so both re-checks wait for it. The second
    to get the lock must see the first one's session open, and expire it."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    held, release = threading.Event(), threading.Event()

    def hold_the_member() -> None:
        try:
            with transaction.atomic():
                Member.objects.select_for_update().get(pk=member.pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    def lock_when_both_are_made() -> None:  # run once both sessions exist in Stripe
        threading.Thread(target=hold_the_member).start()
        assert held.wait(10)

    both_made = threading.Barrier(2, action=lock_when_both_are_made, timeout=20)

    def made(creations=iter(range(2))) -> None:  # the two creations, not an expiry
        if next(creations, None) is not None:
            both_made.wait()

    stripe_log.hooks.append(Hook("POST", SESSIONS, "after", made, once=False))
    tabs = [ApiClient(stripe_enabled.site_url, checkout_api).login(member.email,
                                                                  MEMBER_PASSWORD)
            for _ in range(2)]
    answers: dict[str, requests.Response] = {}
    checkouts = [threading.Thread(target=lambda tab=tab, path=path: answers.update(
                     {path: tab.post(path)}))
                 for tab, path in zip(tabs, ["stripe/checkout", silver], strict=True)]
    for thread in checkouts:
        thread.start()
    assert held.wait(20)
    time.sleep(0.5)  # both re-checks are now waiting for the member's lock
    release.set()
    for thread in checkouts:
        thread.join(30)

    assert [answers[path].status_code for path in ("stripe/checkout", silver)] == [200, 200]
    urls = [answers[path].json()["url"] for path in ("stripe/checkout", silver)]
    # One of the two sessions can still be paid, never both.
    assert len(open_sessions(stripe_enabled.client)) == 1
    assert CheckoutIntent.objects.filter(member=member, status="open").count() == 1
    assert sorted(session_of(stripe_enabled.client, url).status for url in urls) == [
        "expired", "open"]


# --- The subscription's webhook at every step of a checkout --------------------------

def _paid_elsewhere(stripe_enabled, shopper):
    """The member pays a first session in another tab; its webhook is held back.

    Returns a function delivering that ``customer.subscription.created`` webhook.
    """
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})
    first = shopper.checkout()
    assert first.status_code == 200, first.text
    assert pay(first.json()["url"]).status_code == 303
    [event] = stripe_enabled.client.v1.events.list(
        params={"type": "customer.subscription.created"}).data
    body = json.dumps(event.to_dict(for_json=True)).encode()

    def deliver() -> None:
        response = requests.post(
            stripe_enabled.site_url + WEBHOOK_PATH, data=body, timeout=30,
            headers={"Content-Type": "application/json",
                     "Stripe-Signature": signature_header(body, stripe_enabled.webhook_secret)})
        assert response.status_code == 200, response.text

    return deliver


STEPS = [
    "before the intent",
    "after the intent is committed, before Stripe is asked",
    "after Stripe made the session, before the re-lock",
    "after the checkout answered",
]


@pytest.mark.parametrize("step", STEPS)
def test_no_second_payable_session_whenever_the_webhook_commits(
        stripe_enabled, stripe_log, shopper, member, silver, step):
    deliver = _paid_elsewhere(stripe_enabled, shopper)
    if step == "before the intent":
        deliver()
    elif step.startswith("after the intent"):
        stripe_log.on("POST", SESSIONS, "before", deliver)
    elif step.startswith("after Stripe made"):
        stripe_log.on("POST", SESSIONS, "after", deliver)

    response = shopper.post(silver)

    # Even before its webhook, the paid session is found (Stripe refuses to expire it,
    # a read says it is complete): the new one is expired, 409.
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "conflict"
    if step == "after the checkout answered":
        deliver()
    member = Member.objects.get(pk=member.pk)
    assert member.stripe_subscription_id  # a live subscription, granted
    assert open_sessions(stripe_enabled.client) == []  # nothing left to pay twice


def test_close_open_sessions_expires_what_this_site_knows(stripe_enabled, stripe_log, shopper,
                                                         member, other_member):
    url = shopper.checkout().json()["url"]
    stranger = stripe_enabled.client.v1.checkout.sessions.create(params={
        "mode": "subscription", "success_url": "https://x.example/",
        "line_items": [{"price": CheckoutIntent.objects.get().params["line_items"][0]["price"],
                        "quantity": 1}]})
    session_id = session_of(stripe_enabled.client, url).id
    stripe_log.clear()
    close_open_sessions(member.pk)
    assert stripe_log.calls() == [f"POST {SESSIONS}/{session_id}/expire"]
    assert session_of(stripe_enabled.client, url).status == "expired"
    # A session this site did not make is never touched.
    assert stripe_enabled.client.v1.checkout.sessions.retrieve(stranger.id).status == "open"
    assert CheckoutIntent.objects.get().status == "closed"


# --- Cancel: one round trip, "already canceled" from Stripe's state -----------------

def _subscribed(stripe_enabled, shopper, member) -> Member:
    assert pay(shopper.checkout().json()["url"]).status_code == 303
    stripe_enabled.drain()
    member = Member.objects.get(pk=member.pk)
    assert member.stripe_subscription_id
    return member


def test_cancel_of_a_subscription_stripe_does_not_know_is_by_its_code(
        stripe_enabled, stripe_log, shopper, member):
    Member.objects.filter(pk=member.pk).update(stripe_subscription_id="sub_unknown1")
    stripe_log.clear()
    response = shopper.cancel()
    assert response.status_code == 200, response.text
    assert stripe_log.calls() == ["DELETE /v1/subscriptions/sub_unknown1"]  # no retrieve
    assert Member.objects.get(pk=member.pk).stripe_subscription_id is None


def test_cancel_already_canceled_in_stripe_is_read_from_its_status(
        stripe_enabled, stripe_log, shopper, member):
    member = _subscribed(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})
    stripe_enabled.client.v1.subscriptions.cancel(sub_id)
    stripe_log.clear()
    response = shopper.cancel()
    assert response.status_code == 200, response.text
    assert stripe_log.calls() == [f"DELETE /v1/subscriptions/{sub_id}",
                                  f"GET /v1/subscriptions/{sub_id}"]
    member.refresh_from_db()
    assert member.stripe_subscription_id is None and not member.memberships.exists()


@pytest.mark.parametrize("message", [
    "This subscription cannot be canceled while an invoice is being finalized.",
    "Already canceled? No: a refusal that only mentions cancel.",
])
def test_a_refusal_mentioning_cancel_unlinks_nothing(stripe_enabled, stripe_log, shopper,
                                                     member, message):
    member = _subscribed(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    stripe_log.refuse_once("DELETE", f"/v1/subscriptions/{sub_id}", message)
    response = shopper.cancel()
    assert response.status_code == 422, response.text
    assert error_of(response)["message"] == f"Stripe refused the request: {message}"
    member.refresh_from_db()
    assert member.stripe_subscription_id == sub_id  # Stripe still bills it: still held
    assert member.memberships.count() == 1
    assert stripe_enabled.client.v1.subscriptions.retrieve(sub_id).status == "active"


def test_a_replaced_already_canceled_message_is_still_recognised(stripe_enabled, stripe_log,
                                                                 shopper, member):
    member = _subscribed(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})
    stripe_enabled.client.v1.subscriptions.cancel(sub_id)
    stripe_log.refuse_once("DELETE", f"/v1/subscriptions/{sub_id}", "Nope.")
    response = shopper.cancel()
    assert response.status_code == 200, response.text
    assert Member.objects.get(pk=member.pk).stripe_subscription_id is None


def test_payments_turned_off_by_another_process_refuse_despite_this_ones_cache(
        stripe_enabled, stripe_log, shopper, member):
    StripeSettings.load()  # this process has them cached: on
    # Another worker or node turns payments off: this process's cache is now old.
    StripeSettings.objects.filter(pk=1).update(enabled=False, updated_at=timezone.now())
    stripe_log.clear()
    response = shopper.checkout()
    assert response.status_code == 503, response.text
    assert error_of(response)["code"] == "service_unavailable"
    assert stripe_log.calls() == []
    assert not CheckoutIntent.objects.filter(member=member).exists()


def test_payments_turned_on_by_another_process_are_not_refused_by_this_ones_cache(
        stripe_enabled, stripe_log, shopper, member):
    StripeSettings.objects.filter(pk=1).update(enabled=False, updated_at=timezone.now())
    assert not StripeSettings.load().enabled  # this process has them cached: off
    StripeSettings.objects.filter(pk=1).update(enabled=True, updated_at=timezone.now())
    stripe_log.clear()
    response = shopper.checkout()
    assert response.status_code == 200, response.text
    assert stripe_log.calls() == [f"POST {SESSIONS}"]


def test_the_refusal_order_does_not_depend_on_this_process_cache(stripe_enabled, shopper,
                                                                 checkout_api):
    # An endpoint with nothing to sell, while payments are off: the 503 comes first,
    # even in a process whose cached settings still say on.
    Endpoint.objects.create(api=checkout_api, path="stripe/checkout-empty",
                            operation="checkout", parameters={})
    StripeSettings.load()
    StripeSettings.objects.filter(pk=1).update(enabled=False, updated_at=timezone.now())
    response = shopper.post("stripe/checkout-empty")
    assert response.status_code == 503, response.text
    assert error_of(response)["code"] == "service_unavailable"


# --- Sessions that are no longer what this site recorded ------------------------------

def hold_webhooks(stripe_enabled):
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})


def test_a_paid_session_whose_webhook_is_late_refuses_a_second_payable_one(
        stripe_enabled, stripe_log, shopper, member, silver):
    """The member paid Gold; its subscription's webhook has not come yet. A checkout on
    another endpoint must not leave a second payable session (paying twice): Stripe
    refuses to expire the paid one, a read says it is complete, the new one is expired."""
    hold_webhooks(stripe_enabled)
    gold = shopper.checkout()
    assert pay(gold.json()["url"]).status_code == 303

    second = shopper.post(silver)

    assert second.status_code == 409, second.text
    assert error_of(second) == {"code": "conflict", "message": (
        "You have just paid for a subscription; it is being set up. Reload in a moment.")}
    assert open_sessions(stripe_enabled.client) == []
    # The paid one stays on record until its webhook grants it: it keeps refusing.
    gold_id = session_of(stripe_enabled.client, gold.json()["url"]).id
    assert list(CheckoutIntent.objects.filter(status="open").values_list(
        "session_id", flat=True)) == [gold_id]
    # The same endpoint again, before the webhook: its paid session is read, not reused.
    again = shopper.checkout()
    assert again.status_code == 409, again.text
    assert open_sessions(stripe_enabled.client) == []


def test_another_session_stripe_cannot_be_asked_about_refuses_the_new_one(
        stripe_enabled, stripe_log, shopper, member, silver):
    """Perhaps still payable: the new session is expired too, 502, and the next try
    expires the old one and goes on."""
    gold_id = session_of(stripe_enabled.client, shopper.checkout().json()["url"]).id
    stripe_enabled.post("/_emulator/faults", path=f"{SESSIONS}/{gold_id}/expire",
                        method="POST", mode="500", count=1)

    refused = shopper.post(silver)

    assert refused.status_code == 502, refused.text
    assert open_sessions(stripe_enabled.client) == [gold_id]
    retried = shopper.post(silver)
    assert retried.status_code == 200, retried.text
    assert open_sessions(stripe_enabled.client) == [
        session_of(stripe_enabled.client, retried.json()["url"]).id]


def test_a_session_expired_with_a_lost_answer_is_never_handed_out_again(
        stripe_enabled, shopper, member, silver):
    """Gold, then Silver: Stripe expires the Gold session but the answer is lost, so the
    site still has it open. Back to Gold: a read finds it expired; a new session."""
    gold = shopper.checkout()
    gold_id = session_of(stripe_enabled.client, gold.json()["url"]).id
    stripe_enabled.post("/_emulator/faults", path=f"{SESSIONS}/{gold_id}/expire",
                        method="POST", mode="drop", count=1, stage="during")
    assert shopper.post(silver).status_code == 502  # not known to be closed: refused
    assert session_of(stripe_enabled.client, gold.json()["url"]).status == "expired"

    again = shopper.checkout()

    assert again.status_code == 200, again.text
    url = again.json()["url"]
    assert url != gold.json()["url"]
    assert open_sessions(stripe_enabled.client) == [session_of(stripe_enabled.client, url).id]
    assert pay(url).status_code == 303


def test_a_session_expired_in_stripe_is_not_handed_out_again(stripe_enabled, shopper, member):
    first = shopper.checkout()
    stripe_enabled.client.v1.checkout.sessions.expire(
        session_of(stripe_enabled.client, first.json()["url"]).id)

    again = shopper.checkout()

    assert again.status_code == 200, again.text
    assert again.json()["url"] != first.json()["url"]
    assert session_of(stripe_enabled.client, again.json()["url"]).status == "open"


def test_a_member_deleted_while_stripe_makes_the_session_gets_none_payable(
        stripe_enabled, stripe_log, shopper, member):
    """Deleted (an administrator, an erasure) between the intent and the re-lock: paying
    would charge a card for a subscription nobody gets."""
    stripe_log.on("POST", SESSIONS, "after",
                  lambda: Member.objects.filter(pk=member.pk).delete())

    response = shopper.checkout()

    assert response.status_code == 401, response.text
    assert error_of(response) == {"code": "unauthorized",
                                  "message": "Your account no longer exists."}
    assert open_sessions(stripe_enabled.client) == []


def test_a_parallel_retry_of_the_same_intent_is_a_409_then_goes_on(stripe_enabled,
                                                                    stripe_log, shopper,
                                                                    member):
    """Stripe answers 409 idempotency_key_in_use while the same key's request runs."""
    stripe_log.refuse_once("POST", SESSIONS, "Another request with this key is in progress.",
                           status=409, code="idempotency_key_in_use")

    first = shopper.checkout()

    assert first.status_code == 409, first.text
    assert error_of(first) == {"code": "conflict", "message": (
        "Your checkout is being prepared; try again in a moment.")}
    assert CheckoutIntent.objects.get().status == "pending"
    second = shopper.checkout()
    assert second.status_code == 200, second.text
    keys = stripe_log.keys("POST", SESSIONS)
    assert keys[0] == keys[1]


def test_a_paid_session_whose_subscription_ended_no_longer_refuses(
        stripe_enabled, stripe_log, shopper, member, silver):
    """Its webhook never granted it (held back here) and an administrator canceled that
    subscription in Stripe: nothing is paid any more, so the member may check out."""
    hold_webhooks(stripe_enabled)
    gold = shopper.checkout()
    assert pay(gold.json()["url"]).status_code == 303
    paid = session_of(stripe_enabled.client, gold.json()["url"])
    stripe_enabled.client.v1.subscriptions.cancel(paid.subscription)

    again = shopper.post(silver)

    assert again.status_code == 200, again.text
    assert open_sessions(stripe_enabled.client) == [
        session_of(stripe_enabled.client, again.json()["url"]).id]
    assert not CheckoutIntent.objects.filter(session_id=paid.id, status="open").exists()


def test_a_member_deleted_while_their_open_session_is_read_gets_none_payable(
        stripe_enabled, stripe_log, shopper, member):
    """The reuse path re-checks under the lock too: no URL for a member who is gone."""
    session_id = session_of(stripe_enabled.client, shopper.checkout().json()["url"]).id
    stripe_log.on("GET", f"{SESSIONS}/{session_id}", "after",
                  lambda: Member.objects.filter(pk=member.pk).delete())

    again = shopper.checkout()

    assert again.status_code == 401, again.text
    assert error_of(again) == {"code": "unauthorized",
                               "message": "Your account no longer exists."}
    assert open_sessions(stripe_enabled.client) == []


def test_a_member_deleted_while_their_expired_session_is_read_is_a_401(
        stripe_enabled, stripe_log, shopper, member):
    session_id = session_of(stripe_enabled.client, shopper.checkout().json()["url"]).id
    stripe_enabled.client.v1.checkout.sessions.expire(session_id)
    stripe_log.on("GET", f"{SESSIONS}/{session_id}", "after",
                  lambda: Member.objects.filter(pk=member.pk).delete())

    again = shopper.checkout()

    assert again.status_code == 401, again.text
    assert error_of(again)["code"] == "unauthorized"
    assert open_sessions(stripe_enabled.client) == []
