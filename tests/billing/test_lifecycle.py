"""A subscription's life after checkout, through the emulator's webhooks.

Renewals and failed payments come from the emulator's clock, price changes
from the Stripe API, chaos from the emulator shuffling and duplicating its
deliveries; lost webhooks are repaired by stripe_reconcile / stripe_replay_events.
"""

from __future__ import annotations

import io
import json
import time

import pytest
import requests
from django.core.management import CommandError, call_command

from members.models import Member, MemberGroup, Membership
from payments.models import SubscriptionState, WebhookEvent
from tests.fixtures.accounts import MEMBER_PASSWORD
from tests.fixtures.billing import (
    RENEWAL_FAILS_CARD,
    create_recurring_price,
    make_event,
    pay,
    post_event,
    wait_for,
)

from .test_checkout_flow import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 86400


@pytest.fixture
def shopper(stripe_enabled, checkout_api, member):
    return ApiClient(stripe_enabled.site_url, checkout_api).login(member.email, MEMBER_PASSWORD)


def subscribe(stripe_enabled, shopper, member, card: str = "4242424242424242") -> Member:
    response = shopper.checkout()
    assert response.status_code == 200, response.text
    assert pay(response.json()["url"], card).status_code == 303
    stripe_enabled.drain()
    assert wait_for(lambda: Member.objects.get(pk=member.pk).stripe_subscription_id)
    return Member.objects.get(pk=member.pk)


def fresh(member: Member) -> Member:
    return Member.objects.get(pk=member.pk)


def groups_of(member: Member) -> list[str]:
    return sorted(Membership.objects.filter(member=member).values_list("group__name", flat=True))


def status_in_stripe(stripe_enabled, sub_id: str) -> str:
    return stripe_enabled.client.v1.subscriptions.retrieve(sub_id).status


def change_price(stripe_enabled, sub_id: str, price_id: str) -> None:
    subscription = stripe_enabled.client.v1.subscriptions.retrieve(sub_id)
    stripe_enabled.client.v1.subscriptions.update(sub_id, params={
        "items": [{"id": subscription["items"].data[0].id, "price": price_id}],
    })


@pytest.fixture
def silver(stripe_enabled):
    price_id = create_recurring_price(stripe_enabled.client, amount=500, name="Silver plan")
    return price_id, MemberGroup.objects.create(name="Silver", stripe_price_id=price_id)


def test_renewal_keeps_access(stripe_enabled, shopper, member, basic_price):
    member = subscribe(stripe_enabled, shopper, member)
    state = SubscriptionState.objects.get(subscription_id=member.stripe_subscription_id)
    first_period_end = state.current_period_end
    stripe_enabled.advance(32 * DAY)
    state.refresh_from_db()
    assert state.current_period_end > first_period_end
    assert state.status == "active"
    assert groups_of(member) == ["Gold"]
    assert fresh(member).stripe_subscription_id == member.stripe_subscription_id


def test_failed_renewal_past_due_keeps_access_unpaid_removes_it(stripe_enabled, shopper, member,
                                                               basic_price):
    member = subscribe(stripe_enabled, shopper, member, RENEWAL_FAILS_CARD)
    sub_id = member.stripe_subscription_id
    stripe_enabled.advance(31 * DAY)  # the renewal fails: Stripe retries for a while
    assert status_in_stripe(stripe_enabled, sub_id) == "past_due"
    assert wait_for(lambda: SubscriptionState.objects.get(subscription_id=sub_id).status
                    == "past_due")
    assert groups_of(member) == ["Gold"]
    assert fresh(member).stripe_subscription_id == sub_id

    stripe_enabled.advance(10 * DAY)  # every retry fails
    assert status_in_stripe(stripe_enabled, sub_id) == "unpaid"
    assert wait_for(lambda: SubscriptionState.objects.get(subscription_id=sub_id).status
                    == "unpaid")
    assert groups_of(member) == []
    assert fresh(member).stripe_subscription_id is None


def test_price_change_moves_groups(stripe_enabled, shopper, member, basic_price, silver):
    member = subscribe(stripe_enabled, shopper, member)
    change_price(stripe_enabled, member.stripe_subscription_id, silver[0])
    stripe_enabled.drain()
    assert wait_for(lambda: groups_of(member) == ["Silver"])
    rows = Membership.objects.filter(member=member)
    assert [(r.source, r.stripe_subscription_id) for r in rows] == [
        ("stripe", member.stripe_subscription_id)]


def test_hand_given_group_untouched_by_price_change(stripe_enabled, shopper, member,
                                                    basic_price, silver):
    _, gold = basic_price
    Membership.objects.create(member=member, group=gold, source="admin")
    member = subscribe(stripe_enabled, shopper, member)
    change_price(stripe_enabled, member.stripe_subscription_id, silver[0])
    stripe_enabled.drain()
    assert wait_for(lambda: "Silver" in groups_of(member))
    assert sorted(Membership.objects.filter(member=member).values_list("group__name", "source")) \
        == [("Gold", "admin"), ("Silver", "stripe")]


def test_chaos_deliveries_end_in_stripes_state(stripe_enabled, shopper, member, basic_price,
                                               silver):
    stripe_enabled.chaos(True)
    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    change_price(stripe_enabled, sub_id, silver[0])
    change_price(stripe_enabled, sub_id, basic_price[0])
    change_price(stripe_enabled, sub_id, silver[0])
    stripe_enabled.drain()
    assert status_in_stripe(stripe_enabled, sub_id) == "active"
    assert groups_of(member) == ["Silver"]
    assert fresh(member).stripe_subscription_id == sub_id
    # Duplicates really reached the app (the emulator's delivery log shows more accepted
    # deliveries than rows), each event was stored once, and none failed.
    log = requests.get(f"{stripe_enabled.url}/_emulator/deliveries",
                       params={"endpoint": stripe_enabled.webhook_endpoint_id}, timeout=30)
    accepted = [d["event"] for d in log.json()["data"] if d["ok"]]
    stored = set(WebhookEvent.objects.values_list("event_id", flat=True))
    assert len(accepted) > len(stored) >= 4
    assert set(accepted) == stored
    assert not WebhookEvent.objects.filter(status="failed").exists()
    state = SubscriptionState.objects.get(subscription_id=sub_id)
    assert (state.status, state.price_ids, state.deleted) == ("active", [silver[0]], False)

    stripe_enabled.client.v1.subscriptions.cancel(sub_id)
    stripe_enabled.drain()
    assert groups_of(member) == []
    assert fresh(member).stripe_subscription_id is None


def test_same_second_tie_is_settled_by_stripe(stripe_enabled, shopper, member, basic_price,
                                              silver, client, caplog):
    """Two events of one second, delivered in the wrong order: the app asks Stripe."""
    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})
    change_price(stripe_enabled, sub_id, silver[0])  # Stripe's truth: Silver
    state = SubscriptionState.objects.get(subscription_id=sub_id)
    current = stripe_enabled.client.v1.subscriptions.retrieve(sub_id).to_dict(for_json=True)
    stale = json.loads(json.dumps(current))
    stale["items"]["data"][0]["price"]["id"] = basic_price[0]
    tie = state.last_event_created + 1
    newer = make_event(current, created=tie, event_id="evt_tie_newer")
    older = make_event(stale, created=tie, event_id="evt_tie_older")

    assert post_event(client, newer, stripe_enabled.webhook_secret).status_code == 200
    assert groups_of(member) == ["Silver"]
    with caplog.at_level("INFO", logger="payments.stripe"):
        assert post_event(client, older, stripe_enabled.webhook_secret).status_code == 200
    assert groups_of(member) == ["Silver"]  # fetched from Stripe, not the stale payload
    assert "fetched from Stripe" in WebhookEvent.objects.get(event_id="evt_tie_older").note
    assert any("method=GET resource=/v1/subscriptions/{id} outcome=ok" in r.getMessage()
               for r in caplog.records)


def test_in_order_events_cost_no_stripe_call(stripe_enabled, shopper, member, basic_price,
                                             silver, caplog):
    member = subscribe(stripe_enabled, shopper, member)
    stripe_enabled.advance(5)  # the next event is seconds after the last: no tie to settle
    caplog.clear()
    with caplog.at_level("INFO", logger="payments.stripe"):
        change_price(stripe_enabled, member.stripe_subscription_id, silver[0])
        stripe_enabled.drain()
        assert wait_for(lambda: groups_of(member) == ["Silver"])
    assert [r for r in caplog.records if r.name == "payments.stripe"] == []


# --- Repairs: reconcile and replay --------------------------------------------------

def lose_webhooks(stripe_enabled) -> None:
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})


def restore_webhooks(stripe_enabled) -> None:
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": False})


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_reconcile_repairs_a_lost_payment_failure(stripe_enabled, shopper, member, basic_price):
    member = subscribe(stripe_enabled, shopper, member, RENEWAL_FAILS_CARD)
    sub_id = member.stripe_subscription_id
    lose_webhooks(stripe_enabled)
    stripe_enabled.advance(45 * DAY)
    assert status_in_stripe(stripe_enabled, sub_id) == "unpaid"
    assert groups_of(member) == ["Gold"]  # drifted: nobody told us

    report = run("stripe_reconcile", "--dry-run")
    assert f"member {member.pk} (member@example.com) would change:" in report
    assert "removed from group Gold" in report
    assert groups_of(member) == ["Gold"]  # a dry run changes nothing

    report = run("stripe_reconcile")
    assert "removed from group Gold" in report
    assert f"subscription ID {sub_id} cleared" in report
    assert groups_of(member) == []
    assert fresh(member).stripe_subscription_id is None
    assert "0 drifted" in run("stripe_reconcile")  # idempotent


def test_a_late_older_event_cannot_undo_a_reconcile(stripe_enabled, shopper, member,
                                                    basic_price, client):
    member = subscribe(stripe_enabled, shopper, member, RENEWAL_FAILS_CARD)
    sub_id = member.stripe_subscription_id
    t0 = SubscriptionState.objects.get(subscription_id=sub_id).last_event_created
    lose_webhooks(stripe_enabled)
    stripe_enabled.advance(45 * DAY)
    assert status_in_stripe(stripe_enabled, sub_id) == "unpaid"
    assert "removed from group Gold" in run("stripe_reconcile")
    assert groups_of(member) == []

    # A past_due event from before the repair (T0 + 5), delayed, arrives now.
    snapshot = stripe_enabled.client.v1.subscriptions.retrieve(sub_id).to_dict(for_json=True)
    snapshot["status"] = "past_due"
    late = make_event(snapshot, created=t0 + 5, event_id="evt_late_past_due")
    response = post_event(client, late, stripe_enabled.webhook_secret)

    assert response.status_code == 200, response.content
    assert groups_of(member) == []  # Stripe, asked again, still says unpaid
    assert fresh(member).stripe_subscription_id is None
    state = SubscriptionState.objects.get(subscription_id=sub_id)
    assert state.status == "unpaid"
    assert "fetched from Stripe again" in WebhookEvent.objects.get(
        event_id="evt_late_past_due").note


def test_reconcile_reports_a_database_error_and_goes_on(stripe_enabled, shopper, member,
                                                        basic_price, other_member):
    _, gold = basic_price
    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    # Drift reconcile cannot repair: another member holds the subscription ID (unique).
    Membership.objects.filter(member=member).delete()
    Member.objects.filter(pk=member.pk).update(stripe_subscription_id=None)
    Member.objects.filter(pk=other_member.pk).update(stripe_subscription_id=sub_id)
    # A member checked after it, whose drift can be repaired.
    customer = stripe_enabled.client.v1.customers.create(params={"email": "third@example.com"})
    third = Member.objects.create_user("third@example.com", "third-pass-123",
                                       stripe_customer_id=customer.id)
    Membership.objects.create(member=third, group=gold, source="stripe",
                              stripe_subscription_id="sub_long_gone")

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"1 member\(s\) could not be reconciled"):
        call_command("stripe_reconcile", stdout=out, stderr=err)

    assert (f"member {member.pk} (member@example.com) error: Database error while "
            "reconciling (IntegrityError)") in err.getvalue()
    assert f"member {third.pk} (third@example.com) changed:" in out.getvalue()
    assert "removed from group Gold (no active subscription)" in out.getvalue()
    assert "1 error(s)" in out.getvalue()
    assert groups_of(third) == []
    assert groups_of(member) == []  # rolled back, nothing half done
    assert fresh(other_member).stripe_subscription_id == sub_id


def test_reconcile_repairs_a_hand_deleted_membership(stripe_enabled, shopper, member,
                                                     basic_price, other_member):
    member = subscribe(stripe_enabled, shopper, member)
    Membership.objects.filter(member=member).delete()
    Member.objects.filter(pk=member.pk).update(stripe_subscription_id=None)

    report = run("stripe_reconcile", "--member", str(member.pk))
    assert "added to group Gold" in report
    assert groups_of(member) == ["Gold"]
    assert fresh(member).stripe_subscription_id is not None
    assert "1 member(s) checked" in report


def test_reconcile_exits_non_zero_on_errors(stripe_enabled, shopper, member, basic_price):
    subscribe(stripe_enabled, shopper, member)
    stripe_enabled.fault("/v1/subscriptions", method="GET", mode="500", count=5)
    with pytest.raises(CommandError, match="could not be reconciled"):
        run("stripe_reconcile")


def test_replay_processes_lost_events(stripe_enabled, shopper, member, basic_price, silver):
    since = str(int(time.time()) - 60)
    member = subscribe(stripe_enabled, shopper, member)
    lose_webhooks(stripe_enabled)
    change_price(stripe_enabled, member.stripe_subscription_id, silver[0])
    stripe_enabled.drain()
    restore_webhooks(stripe_enabled)
    assert groups_of(member) == ["Gold"]
    stored_before = WebhookEvent.objects.count()

    report = run("stripe_replay_events", "--since", since)
    assert ": processed" in report
    assert groups_of(member) == ["Silver"]
    assert WebhookEvent.objects.count() > stored_before

    again = run("stripe_replay_events", "--since", since)  # idempotent
    assert ": processed" not in again
    assert groups_of(member) == ["Silver"]


@pytest.mark.parametrize("since", ["last tuesday", "\u00b2"])  # "²": a digit to isdigit()
def test_replay_refuses_a_bad_since(stripe_enabled, since):
    with pytest.raises(CommandError, match="neither unix seconds nor an ISO 8601"):
        run("stripe_replay_events", "--since", since)

