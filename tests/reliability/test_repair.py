"""Break the state the way production breaks it, then show each repair command fixes it.

The breaks: the webhook endpoint is down (disabled in Stripe, or pointing at a closed
port) while a renewal fails all the way to ``unpaid``, or while the subscription is
canceled in Stripe directly. Either way the member keeps access nobody paid for.
``stripe_replay_events --since`` and ``stripe_reconcile`` must each repair it, say what
they changed, and change nothing when run again. The endpoint stays down during the
repair, so only the command can have fixed it.
"""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command

from members.models import Member, Membership
from payments.models import SubscriptionState
from tests.billing.test_checkout_flow import ApiClient
from tests.fixtures.accounts import MEMBER_PASSWORD
from tests.fixtures.billing import OK_CARD, RENEWAL_FAILS_CARD, WEBHOOK_PATH, pay, wait_for
from tests.fixtures.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 86400


@pytest.fixture
def shopper(stripe_enabled, checkout_api, member):
    return ApiClient(stripe_enabled.site_url, checkout_api).login(member.email, MEMBER_PASSWORD)


@pytest.fixture(params=["disabled", "closed_port"])
def endpoint_down(request, stripe_enabled):
    """Call it to take the app's webhook endpoint down, one of two ways."""
    endpoints = stripe_enabled.client.v1.webhook_endpoints

    def take_down() -> None:
        if request.param == "disabled":
            endpoints.update(stripe_enabled.webhook_endpoint_id, params={"disabled": True})
        else:  # Stripe keeps trying, and every delivery fails
            endpoints.update(stripe_enabled.webhook_endpoint_id, params={
                "url": f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}"})

    return take_down


def subscribe(stripe_enabled, shopper, member: Member, card: str) -> str:
    response = shopper.checkout()
    assert response.status_code == 200, response.text
    assert pay(response.json()["url"], card).status_code == 303
    stripe_enabled.drain()
    subscription_id = wait_for(lambda: Member.objects.get(pk=member.pk).stripe_subscription_id)
    assert subscription_id
    assert groups_of(member) == ["Gold"]
    return subscription_id


def groups_of(member: Member) -> list[str]:
    return sorted(Membership.objects.filter(member=member).values_list("group__name", flat=True))


def held_subscription(member: Member) -> str | None:
    return Member.objects.get(pk=member.pk).stripe_subscription_id


def status_in_stripe(stripe_enabled, subscription_id: str) -> str:
    return stripe_enabled.client.v1.subscriptions.retrieve(subscription_id).status


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def last_event_for(stripe_enabled, subscription_id: str, event_type: str, status: str) -> str:
    """The ID of Stripe's event that told of ``status``: the one the app never received."""
    events = stripe_enabled.client.v1.events.list(params={"type": event_type, "limit": 100})
    matching = [e for e in events.data
                if e.data.object["id"] == subscription_id and e.data.object["status"] == status]
    assert matching, f"Stripe has no {event_type} event with status {status}"
    return max(matching, key=lambda e: e.created).id


# --- The breaks -----------------------------------------------------------------------

def renewal_fails_while_endpoint_down(stripe_enabled, shopper, member, endpoint_down) -> str:
    subscription_id = subscribe(stripe_enabled, shopper, member, RENEWAL_FAILS_CARD)
    endpoint_down()
    stripe_enabled.advance(31 * DAY)  # past the period end: the renewal charge fails
    assert status_in_stripe(stripe_enabled, subscription_id) == "past_due"
    stripe_enabled.advance(10 * DAY)  # past every retry
    assert status_in_stripe(stripe_enabled, subscription_id) == "unpaid"
    # The break: an unpaid subscription still grants the group.
    assert groups_of(member) == ["Gold"]
    assert held_subscription(member) == subscription_id
    return subscription_id


def canceled_in_stripe_while_endpoint_down(stripe_enabled, shopper, member,
                                           endpoint_down) -> str:
    subscription_id = subscribe(stripe_enabled, shopper, member, OK_CARD)
    endpoint_down()
    stripe_enabled.client.v1.subscriptions.cancel(subscription_id)
    stripe_enabled.drain()
    assert status_in_stripe(stripe_enabled, subscription_id) == "canceled"
    # The break: a canceled subscription still grants the group.
    assert groups_of(member) == ["Gold"]
    assert held_subscription(member) == subscription_id
    return subscription_id


def assert_access_revoked(member: Member, subscription_id: str) -> None:
    assert groups_of(member) == []
    assert held_subscription(member) is None


# --- Replay ---------------------------------------------------------------------------

def test_replay_repairs_a_failed_renewal_lost_while_the_endpoint_was_down(
        stripe_enabled, shopper, member, basic_price, endpoint_down):
    since = str(int(time.time()) - 60)
    subscription_id = renewal_fails_while_endpoint_down(stripe_enabled, shopper, member,
                                                        endpoint_down)
    lost = last_event_for(stripe_enabled, subscription_id, "customer.subscription.updated",
                          "unpaid")

    report = run("stripe_replay_events", "--since", since)

    assert f"{lost} customer.subscription.updated: processed" in report, report
    assert_access_revoked(member, subscription_id)
    assert SubscriptionState.objects.get(subscription_id=subscription_id).status == "unpaid"
    again = run("stripe_replay_events", "--since", since)
    assert ": processed" not in again, again
    assert_access_revoked(member, subscription_id)


def test_replay_repairs_a_lost_deletion(stripe_enabled, shopper, member, basic_price,
                                        endpoint_down):
    since = str(int(time.time()) - 60)
    subscription_id = canceled_in_stripe_while_endpoint_down(stripe_enabled, shopper, member,
                                                             endpoint_down)
    lost = last_event_for(stripe_enabled, subscription_id, "customer.subscription.deleted",
                          "canceled")

    report = run("stripe_replay_events", "--since", since)

    assert f"{lost} customer.subscription.deleted: processed" in report, report
    assert_access_revoked(member, subscription_id)
    assert SubscriptionState.objects.get(subscription_id=subscription_id).deleted
    assert ": processed" not in run("stripe_replay_events", "--since", since)


# --- Reconcile ------------------------------------------------------------------------

def assert_reconcile_repairs(member: Member, subscription_id: str) -> None:
    dry = run("stripe_reconcile", "--dry-run")
    assert f"member {member.pk} ({member.email}) would change:" in dry, dry
    assert "removed from group Gold" in dry
    assert groups_of(member) == ["Gold"]  # a dry run changes nothing

    report = run("stripe_reconcile")

    assert f"member {member.pk} ({member.email}) changed:" in report, report
    assert "removed from group Gold" in report
    assert f"subscription ID {subscription_id} cleared" in report
    assert "1 drifted" in report
    assert_access_revoked(member, subscription_id)
    assert "0 drifted" in run("stripe_reconcile")


def test_reconcile_repairs_a_failed_renewal_lost_while_the_endpoint_was_down(
        stripe_enabled, shopper, member, basic_price, endpoint_down):
    subscription_id = renewal_fails_while_endpoint_down(stripe_enabled, shopper, member,
                                                        endpoint_down)
    assert_reconcile_repairs(member, subscription_id)


def test_reconcile_repairs_a_lost_deletion(stripe_enabled, shopper, member, basic_price,
                                           endpoint_down):
    subscription_id = canceled_in_stripe_while_endpoint_down(stripe_enabled, shopper, member,
                                                             endpoint_down)
    assert_reconcile_repairs(member, subscription_id)
