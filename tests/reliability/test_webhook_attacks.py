"""Forged, replayed and malformed webhook deliveries against a member who has something to lose.

tests/billing/test_webhook_endpoint.py checks each refusal from an empty database; here
the member already holds a subscription and its group, and every attack carries a
``customer.subscription.deleted`` that would take them away if it got through. Each
must leave everything exactly as it was: no WebhookEvent row, no state change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from members.models import MemberGroup, Membership
from payments.models import SubscriptionState, WebhookEvent
from tests.fixtures.billing import (
    UNIT_WEBHOOK_SECRET,
    make_event,
    make_subscription,
    post_event,
    signature_header,
)

pytestmark = pytest.mark.django_db

OLD_SECRET = "whsec_reliability_previous"
SUBSCRIPTION = "sub_attacked"
CUSTOMER = "cus_attacked"


@pytest.fixture
def subscribed(client, stripe_settings, member):
    """The member pays for Gold (applied through a real signed delivery) and has Staff by hand."""
    MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    staff = MemberGroup.objects.create(name="Staff")
    Membership.objects.create(member=member, group=staff, source="admin")
    member.stripe_customer_id = CUSTOMER
    member.save()
    created = make_event(make_subscription(SUBSCRIPTION, customer=CUSTOMER),
                         type="customer.subscription.created", created=int(time.time()) - 100)
    assert post_event(client, created).json()["status"] == "processed"
    member.refresh_from_db()
    assert member.stripe_subscription_id == SUBSCRIPTION
    assert set(member.member_groups.values_list("name", flat=True)) == {"Gold", "Staff"}
    return member


def snapshot(member) -> dict:
    member.refresh_from_db()
    return {
        "events": sorted(WebhookEvent.objects.values_list("event_id", "status", "attempts")),
        "states": sorted(SubscriptionState.objects.values_list(
            "subscription_id", "status", "deleted", "last_event_created", "last_event_id")),
        "member": (member.stripe_customer_id, member.stripe_subscription_id),
        "memberships": sorted(member.memberships.values_list(
            "group__name", "source", "stripe_subscription_id")),
    }


def deletion() -> dict:
    return make_event(make_subscription(SUBSCRIPTION, customer=CUSTOMER, status="canceled"),
                      type="customer.subscription.deleted", created=int(time.time()))


def body_of(event: dict) -> bytes:
    return json.dumps(event).encode()


def replayed_old(client):
    # A delivery captured ten minutes ago, sent again unchanged.
    body = body_of(deletion())
    return post_event(client, body, header=signature_header(
        body, UNIT_WEBHOOK_SECRET, timestamp=int(time.time()) - 600))


def just_past_tolerance(client):
    body = body_of(deletion())
    return post_event(client, body, header=signature_header(
        body, UNIT_WEBHOOK_SECRET, timestamp=int(time.time()) - 301))


def retimed_replay(client):
    # The old capture with a fresh t= pasted in: t is signed, so the v1 no longer matches.
    body = body_of(deletion())
    old = signature_header(body, UNIT_WEBHOOK_SECRET, timestamp=int(time.time()) - 600)
    return post_event(client, body, header=f"t={int(time.time())}," + old.split(",", 1)[1])


def future_timestamp(client):
    body = body_of(deletion())
    return post_event(client, body, header=signature_header(
        body, UNIT_WEBHOOK_SECRET, timestamp=int(time.time()) + 3600))


def tampered_body(client):
    # Signed as a harmless update, then turned into a deletion on the way.
    harmless = make_event(make_subscription(SUBSCRIPTION, customer=CUSTOMER),
                          created=int(time.time()))
    body = body_of(harmless)
    header = signature_header(body, UNIT_WEBHOOK_SECRET)
    forged = body.replace(b'"status": "active"', b'"status": "canceled"').replace(
        b"customer.subscription.updated", b"customer.subscription.deleted")
    assert forged != body
    return post_event(client, forged, header=header)


def wrong_secret(client):
    return post_event(client, deletion(), "whsec_not_ours")


def several_wrong_signatures(client):
    return post_event(client, deletion(), "whsec_one", "whsec_two", "whsec_three")


def only_v0_scheme(client):
    body = body_of(deletion())
    v1 = signature_header(body, UNIT_WEBHOOK_SECRET)
    return post_event(client, body, header=v1.replace("v1=", "v0="))


def missing_header(client):
    return post_event(client, deletion(), header="")


def oversized_body(client):
    event = deletion()
    event["data"]["object"]["metadata"]["padding"] = "x" * 10_000
    with override_settings(STRIPE_WEBHOOK_MAX_BODY_BYTES=4096):
        return post_event(client, event)


def signed_non_json(client):
    return post_event(client, b"customer.subscription.deleted sub_attacked")


def signed_json_array(client):
    return post_event(client, b'[{"type": "customer.subscription.deleted"}]')


def signed_without_created(client):
    event = deletion()
    event["created"] = "yesterday"
    return post_event(client, event)


ATTACKS: dict[str, tuple[Callable, int]] = {
    "replayed-10-minutes-old": (replayed_old, 400),
    "replayed-301-seconds-old": (just_past_tolerance, 400),
    "replayed-with-fresh-timestamp": (retimed_replay, 400),
    "future-timestamp": (future_timestamp, 400),
    "tampered-body": (tampered_body, 400),
    "wrong-secret": (wrong_secret, 400),
    "several-wrong-v1": (several_wrong_signatures, 400),
    "v0-scheme-only": (only_v0_scheme, 400),
    "missing-header": (missing_header, 400),
    "oversized-body": (oversized_body, 413),
    "signed-non-json": (signed_non_json, 400),
    "signed-json-array": (signed_json_array, 400),
    "signed-bad-created": (signed_without_created, 400),
}


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
def test_attack_is_refused_and_changes_nothing(client, subscribed, attack):
    send, status = ATTACKS[attack]
    before = snapshot(subscribed)

    response = send(client)

    assert response.status_code == status, response.content
    body = response.json()  # the API's failure envelope, one error
    assert set(body) == {"errors", "x-rcms-request-id"}
    assert [set(error) for error in body["errors"]] == [{"code", "message"}]
    assert UNIT_WEBHOOK_SECRET not in response.content.decode()
    assert snapshot(subscribed) == before


def test_event_for_live_mode_is_stored_as_ignored_and_changes_nothing(client, subscribed):
    before = snapshot(subscribed)
    event = deletion()
    event["livemode"] = True

    response = post_event(client, event)

    assert response.status_code == 200  # acknowledged, so Stripe stops sending it
    assert response.json() == {"received": True, "status": "ignored"}
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "ignored"
    assert stored.note == ("Event is live mode but the configured keys are test mode.")
    after = snapshot(subscribed)
    assert after["events"] == sorted([*before["events"], (event["id"], "ignored", 1)])
    assert {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"}


@pytest.fixture
def rolling(stripe_settings):
    """Mid-roll: a new current secret, the old one still valid for an hour."""
    stripe_settings.previous_webhook_secret = OLD_SECRET
    stripe_settings.previous_webhook_secret_expires_at = timezone.now() + timedelta(hours=1)
    stripe_settings.save()
    return stripe_settings


def test_old_secret_passes_during_the_roll_and_fails_after_it(client, subscribed, rolling):
    upgrade = make_event(make_subscription(SUBSCRIPTION, customer=CUSTOMER,
                                           prices=["price_gold"]),
                         created=int(time.time()) - 50)
    assert post_event(client, upgrade, OLD_SECRET).json()["status"] == "processed"
    both = make_event(make_subscription(SUBSCRIPTION, customer=CUSTOMER),
                      created=int(time.time()) - 40)
    response = post_event(client, both, "whsec_wrong", OLD_SECRET, UNIT_WEBHOOK_SECRET)
    assert response.json()["status"] == "processed"

    rolling.previous_webhook_secret_expires_at = timezone.now() - timedelta(seconds=1)
    rolling.save()
    before = snapshot(subscribed)

    late = post_event(client, deletion(), OLD_SECRET)

    assert late.status_code == 400
    assert late.json()["errors"] == [{
        "code": "bad_request", "message": "No signature matches a configured webhook secret."}]
    assert snapshot(subscribed) == before
    assert post_event(client, deletion(), UNIT_WEBHOOK_SECRET).json()["status"] == "processed"
    subscribed.refresh_from_db()
    assert subscribed.stripe_subscription_id is None
    assert list(subscribed.member_groups.values_list("name", flat=True)) == ["Staff"]


# --- Bad bytes: refused with 400 in the envelope, DEBUG on or off ---------------------------

def now_header(v1: str) -> str:
    return f"t={int(time.time())},v1={v1}"


def signed_deep(depth: int) -> bytes:
    return b'{"id": "evt_deep", "type": "customer.subscription.deleted", "created": 1, "x": ' + (
        b"[" * depth) + (b"]" * depth) + b"}"


BAD_BYTES: dict[str, tuple[Callable, str]] = {
    # One non-ASCII byte: hmac.compare_digest raised TypeError, and the debug page
    # listed verify()'s locals, the webhook secret among them.
    "non-ascii-v1": (lambda client: post_event(client, deletion(), header=now_header("\xe9")),
                     "Malformed Stripe-Signature header: not ASCII."),
    "non-ascii-t": (lambda client: post_event(client, deletion(), header="t=\xe9,v1=" + "a" * 64),
                    "Malformed Stripe-Signature header: not ASCII."),
    "v1-too-short": (lambda client: post_event(client, deletion(), header=now_header("a" * 63)),
                     "Malformed Stripe-Signature header: a v1 is not 64 hex characters."),
    "v1-not-hex": (lambda client: post_event(client, deletion(), header=now_header("g" * 64)),
                   "Malformed Stripe-Signature header: a v1 is not 64 hex characters."),
    "v1-uppercase": (lambda client: post_event(client, deletion(), header=now_header("A" * 64)),
                     "Malformed Stripe-Signature header: a v1 is not 64 hex characters."),
    # The right signature plus one bad v1: refused before any comparison.
    "good-and-bad-v1": (lambda client: post_event(
        client, body_of(deletion()), header=signature_header(
            body_of(deletion()), UNIT_WEBHOOK_SECRET) + ",v1=\x00"),
        "Malformed Stripe-Signature header: a v1 is not 64 hex characters."),
    "signed-t-with-sign": (lambda client: post_event(
        client, deletion(), header=f"t=+{int(time.time())},v1=" + "a" * 64),
        "Malformed Stripe-Signature header: bad timestamp."),
    "too-many-v1": (lambda client: post_event(
        client, deletion(), *[f"whsec_{i}" for i in range(9)]),
        "Malformed Stripe-Signature header: too many v1 signatures."),
    # Signed, so only someone holding the secret could send these: still a 400.
    "signed-100000-levels-deep": (lambda client: post_event(client, signed_deep(100_000)),
                                  "Body nests deeper than 64 levels."),
    "signed-65-levels-deep": (lambda client: post_event(client, signed_deep(65)),
                              "Body nests deeper than 64 levels."),
    "signed-100000-digit-number": (lambda client: post_event(
        client, b'{"id": "evt_big", "type": "x", "created": ' + b"9" * 100_000 + b"}"),
        "Body is not valid JSON."),
    "signed-nan": (lambda client: post_event(
        client, b'{"id": "evt_nan", "type": "x", "created": NaN}'), "Body is not valid JSON."),
}


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("attack", BAD_BYTES, ids=list(BAD_BYTES))
def test_bad_bytes_get_400_in_the_envelope(client, subscribed, settings, caplog, attack, debug):
    settings.DEBUG = debug
    send, message = BAD_BYTES[attack]
    before = snapshot(subscribed)

    response = send(client)

    assert response.status_code == 400, response.content[:500]
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"] == [{"code": "bad_request", "message": message}]
    assert UNIT_WEBHOOK_SECRET not in response.content.decode()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert UNIT_WEBHOOK_SECRET not in caplog.text
    assert snapshot(subscribed) == before


def test_json_nested_within_the_bound_is_accepted(client, subscribed):
    event = deletion()
    nested: dict = {}
    for _ in range(55):
        nested = {"n": nested}
    event["data"]["object"]["metadata"]["deep"] = json.dumps(nested)  # a string: no depth
    event["data"]["object"]["extra"] = nested
    assert post_event(client, event).status_code == 200


def test_brackets_inside_strings_do_not_count_as_depth(client, subscribed):
    event = deletion()
    event["data"]["object"]["metadata"]["note"] = "[" * 1000 + '\\"{' * 100
    assert post_event(client, event).status_code == 200


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_raw_non_ascii_byte_over_http_gets_400(subscribed, live_server, settings, debug):
    """Through a real WSGI server: the header arrives as bytes, not as a test-client str."""
    import requests

    settings.DEBUG = debug

    response = requests.post(
        f"{live_server.url}/direct/stripe/webhook/", data=body_of(deletion()), timeout=30,
        headers={"Stripe-Signature": f"t={int(time.time())},v1=".encode() + b"\xe9",
                 "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "Malformed Stripe-Signature header: not ASCII.")
    assert UNIT_WEBHOOK_SECRET not in response.text
