"""A repair (reconcile: the admin's "Resync from Stripe", ``stripe_reconcile``) against a
change applied while it read Stripe: it must not put back what Stripe no longer says.
Hooks in the emulator make each interleaving exact."""

from __future__ import annotations

import pytest

from members.models import Member, Membership
from payments.models import SubscriptionState
from payments.services.reconcile import reconcile_member
from tests.fixtures.billing import wait_for

from . import subscribers
from .emulator_requests import watch

pytestmark = pytest.mark.django_db(transaction=True)

# The shared fixtures, by name (tests/billing/subscribers.py).
shopper, silver, subscribe = subscribers.shopper, subscribers.silver, subscribers.subscribe


def groups_of(member: Member) -> list[str]:
    return sorted(Membership.objects.filter(member=member).values_list("group__name", flat=True))


def stripe_price(stripe_enabled, sub_id: str) -> str:
    return stripe_enabled.client.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id


def test_resync_does_not_undo_a_plan_change_applied_while_it_read_stripe(
        emulator, stripe_enabled, shopper, member, basic_price, silver):
    """Reconcile lists the subscriptions (Gold); before it locks the member, the plan
    change to Silver happens in Stripe and its webhook is applied here. Reconcile then
    applies its older list over the newer event."""
    silver_price, _ = silver
    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    assert groups_of(member) == ["Gold"]

    def plan_changed_meanwhile():
        subscription = stripe_enabled.client.v1.subscriptions.retrieve(sub_id)
        stripe_enabled.client.v1.subscriptions.update(sub_id, params={
            "items": [{"id": subscription["items"].data[0].id, "price": silver_price}]})
        stripe_enabled.drain()
        assert wait_for(lambda: groups_of(member) == ["Silver"])

    # After the list was answered (Gold), before reconcile gets it back.
    watch(emulator).on("GET", "/v1/subscriptions", "after", plan_changed_meanwhile)

    reconcile_member(member)

    assert stripe_price(stripe_enabled, sub_id) == silver_price  # Stripe's truth
    assert SubscriptionState.objects.get(subscription_id=sub_id).price_ids == [silver_price]
    assert groups_of(member) == ["Silver"]


def test_resync_does_not_revoke_a_subscription_granted_while_it_read_stripe(
        emulator, stripe_enabled, shopper, member, basic_price):
    """The member's first subscription was canceled; reconcile lists the customer's
    subscriptions (only the canceled one); meanwhile the member subscribes again and the
    webhook grants it. Reconcile then revokes the new, paid subscription."""
    member = subscribe(stripe_enabled, shopper, member)
    first = member.stripe_subscription_id
    assert shopper.cancel().status_code == 200
    stripe_enabled.drain()
    assert wait_for(lambda: Member.objects.get(pk=member.pk).stripe_subscription_id is None)
    assert groups_of(member) == []

    def subscribed_again_meanwhile():
        subscribe(stripe_enabled, shopper, member)
        assert groups_of(member) == ["Gold"]

    watch(emulator).on("GET", "/v1/subscriptions", "after", subscribed_again_meanwhile)

    report = reconcile_member(Member.objects.get(pk=member.pk))

    second = Member.objects.get(pk=member.pk).stripe_subscription_id
    live = [s.id for s in stripe_enabled.client.v1.subscriptions.list(
        params={"customer": member.stripe_customer_id or Member.objects.get(
            pk=member.pk).stripe_customer_id, "status": "active"}).data]
    assert len(live) == 1 and live[0] != first  # Stripe: the member pays for a new one
    assert second == live[0], report.changes
    assert groups_of(member) == ["Gold"], report.changes


def test_resync_does_not_regrant_a_subscription_canceled_while_it_read_stripe(
        emulator, stripe_enabled, shopper, member, basic_price):
    """Reconcile lists the subscriptions (active); before it locks the member, the member
    cancels (stripe/cancel: canceled in Stripe, unlinked and marked deleted here).
    Reconcile then grants the canceled subscription again from its older list."""
    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id

    def canceled_meanwhile():
        assert shopper.cancel().status_code == 200
        assert groups_of(member) == []

    watch(emulator).on("GET", "/v1/subscriptions", "after", canceled_meanwhile)

    report = reconcile_member(member)

    assert stripe_enabled.client.v1.subscriptions.retrieve(sub_id).status == "canceled"
    assert SubscriptionState.objects.get(subscription_id=sub_id).deleted
    assert Member.objects.get(pk=member.pk).stripe_subscription_id is None, report.changes
    assert groups_of(member) == [], report.changes


def test_resync_of_a_member_whose_subscription_keeps_changing_changes_nothing_and_says_so(
        emulator, stripe_enabled, shopper, member, basic_price):
    from payments.services.reconcile import ATTEMPTS

    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    updates = iter(range(ATTEMPTS))

    hooks = watch(emulator)

    def updated_meanwhile():
        n = next(updates)
        stripe_enabled.client.v1.subscriptions.update(
            sub_id, params={"metadata": {"note": f"edit {n}"}})
        stripe_enabled.drain()
        if n + 1 < ATTEMPTS:  # and after its next read again
            hooks.on("GET", "/v1/subscriptions", "after", updated_meanwhile)

    before = SubscriptionState.objects.get(subscription_id=sub_id).updated_at
    hooks.on("GET", "/v1/subscriptions", "after", updated_meanwhile)

    report = reconcile_member(member)

    assert report.changes == []
    assert report.errors == [
        f"The member's subscriptions changed while Stripe was read, {ATTEMPTS} times in a "
        "row; nothing was changed for this member. Run it again."]
    assert SubscriptionState.objects.get(subscription_id=sub_id).updated_at > before
    assert groups_of(member) == ["Gold"]


def test_resync_reads_the_customer_stored_now_not_the_one_it_was_handed(
        stripe_enabled, shopper, member, basic_price):
    # A long stripe_reconcile run holds members read at its start; one who got a
    # customer since is reconciled with it.
    handed = Member.objects.get(pk=member.pk)  # read before the checkout: no customer
    subscribe(stripe_enabled, shopper, member)
    Membership.objects.filter(member=member).delete()  # drift to repair

    report = reconcile_member(handed)

    assert report.errors == []
    assert groups_of(member) == ["Gold"], report.changes
