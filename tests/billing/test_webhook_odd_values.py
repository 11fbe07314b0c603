"""Signed events with values the sync rules or the database cannot take: refused or settled
the same with and without the inbox, never a 500 nor a stored event that cannot be held."""
from __future__ import annotations

import json

import pytest

from members.models import MemberGroup
from payments.models import WebhookEvent
from payments.services import inbox as inbox_mod
from tests.fixtures.billing import make_event, make_subscription, post_event

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("number", [b"1e400", b"-1e400"])
def test_a_number_beyond_a_double_is_refused_the_same_with_and_without_the_inbox(
        number, client, customer, gold, apply_mode):
    event = make_event(make_subscription(), type="customer.subscription.created")
    body = json.dumps(event).encode()[:-1] + b', "amount": ' + number + b"}"

    response = post_event(client, body)

    # docs/billing.md "Verification": a number too long to convert, NaN/Infinity -> 400,
    # and with the inbox "a refused delivery stores nothing and gets the same answer".
    assert response.status_code == 400, (apply_mode, response.content)
    assert response.json()["errors"][0]["code"] == "bad_request"
    assert not WebhookEvent.objects.filter(event_id=event["id"]).exists()
    if apply_mode == "queue":
        inbox_mod.drain()
    customer.refresh_from_db()
    assert not customer.memberships.exists()
@pytest.mark.parametrize("member_id", ["²", "1²"])
def test_an_unreadable_metadata_member_id_is_ignored_not_a_failure(
        member_id, client, stripe_settings, member, gold, apply_mode):
    subscription = make_subscription("sub_meta1", customer="cus_nobody_has")
    subscription["metadata"] = {"member_id": member_id}
    event = make_event(subscription, type="customer.subscription.created")

    response = post_event(client, event)
    if apply_mode == "queue":
        assert response.status_code == 200
        inbox_mod.drain()
    else:
        # docs/billing.md: an event for a member no one has is stored `ignored`, 200.
        assert response.status_code == 200, response.content
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "ignored", (stored.status, stored.error)
    assert stored.error == ""


def test_a_known_customer_with_an_unreadable_metadata_member_id_is_still_granted(
        client, stripe_settings, member, gold, apply_mode):
    member.stripe_customer_id = "cus_unit1"
    member.save()
    subscription = make_subscription("sub_meta2", customer="cus_unit1")
    subscription["metadata"] = {"member_id": "²"}
    event = make_event(subscription, type="customer.subscription.created")

    response = post_event(client, event)
    assert response.status_code == 200, response.content
    if apply_mode == "queue":
        inbox_mod.drain()
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "processed", (stored.status, stored.error)
    assert list(member.member_groups.values_list("name", flat=True)) == ["Gold"]
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_disallowed_host_on_the_webhook_is_a_400_in_the_envelope(
        client, stripe_settings, member, settings, debug):
    settings.DEBUG = debug
    MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    member.stripe_customer_id = "cus_unit1"
    member.save()
    event = make_event(make_subscription(), type="customer.subscription.created")

    response = post_event(client, event, HTTP_HOST="evil.example.net")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "bad_request"
    assert not WebhookEvent.objects.filter(event_id=event["id"]).exists()

