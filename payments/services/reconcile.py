"""Repair members from Stripe's current truth (lost webhooks, hand edits).

For a member with a Stripe customer, the subscriptions are read from Stripe
(status ``all``). The current one is the subscription the member holds if it
still grants access, else the newest granting one (the same "one subscription
per member, held one first" rule the webhooks follow). The member's groups and
IDs are then set through ``services.sync``; every other subscription's
Stripe-granted memberships are removed, and canceled ones are marked deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from members.models import Member, Membership

from .. import gateway
from . import sync


@dataclass
class ReconcileReport:
    member_id: int
    email: str
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def drifted(self) -> bool:
        return bool(self.changes)


class _DryRun(Exception):
    pass


def choose_current(subscriptions: list[dict], held: str | None) -> dict | None:
    granting = [s for s in subscriptions if sync.grants_access(s)]
    for subscription in granting:
        if subscription["id"] == held:
            return subscription
    return max(granting, key=lambda s: s.get("created") or 0, default=None)


def reconcile_member(member: Member, *, dry_run: bool = False) -> ReconcileReport:
    """Make one member match Stripe. With ``dry_run`` the changes are reported, then rolled back."""
    report = ReconcileReport(member.pk, member.email, dry_run=dry_run)
    if not member.stripe_customer_id:
        return report
    try:
        subscriptions = gateway.list_subscriptions(member.stripe_customer_id)
    except gateway.StripeError as exc:
        report.errors.append(f"Could not read subscriptions from Stripe: {exc.message}")
        return report
    try:
        with transaction.atomic():
            report.changes = _apply(member.pk, subscriptions)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except gateway.StripeError as exc:
        report.changes = []
        report.errors.append(f"Stripe failed while reconciling: {exc.message}")
    return report


def _apply(member_id: int, subscriptions: list[dict]) -> list[str]:
    member = sync.lock_member(member_id)
    changes: list[str] = []
    current = choose_current(subscriptions, member.stripe_subscription_id)
    held = member.stripe_subscription_id
    if held and (current is None or held != current["id"]):
        # The held subscription no longer grants (else it would be current): let go of it.
        gone = "" if held in {s["id"] for s in subscriptions} else " (unknown to Stripe)"
        changes += [f"{change}{gone}" for change in sync.revoke(member, held)]
    if current is not None:
        state = sync.lock_state(current["id"])
        changes += sync.apply_snapshot(member, state, current).changes
        state.save()
    for subscription in subscriptions:
        if current is not None and subscription["id"] == current["id"]:
            continue
        # Not current: record what Stripe says, and whatever it granted goes.
        state = sync.lock_state(subscription["id"])
        was_deleted = state.deleted
        sync.record_snapshot(state, member, subscription)
        state.save()
        changes += sync.revoke(member, subscription["id"])
        if state.deleted and not was_deleted:
            changes.append(f"subscription {subscription['id']} marked deleted")
    if current is None:
        stray = member.memberships.filter(source=Membership.Source.STRIPE)
        names = list(stray.values_list("group__name", flat=True))
        if names:
            stray.delete()
            changes += [f"removed from group {name} (no active subscription)" for name in names]
    return changes


def members_to_reconcile(member_id: int | None = None):
    members = Member.objects.exclude(stripe_customer_id=None).exclude(stripe_customer_id="")
    if member_id is not None:
        members = members.filter(pk=member_id)
    return members.order_by("pk")


def reconcile_all(member_id: int | None = None, *, dry_run: bool = False):
    for member in members_to_reconcile(member_id).iterator():
        yield reconcile_member(member, dry_run=dry_run)

