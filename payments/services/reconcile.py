"""Repair members from Stripe's current truth (lost webhooks, hand edits).

Stripe is read with no transaction open; the answer is applied under the member's
lock (docs/billing.md, "Repair: reconcile and replay").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction
from django.db.models import Q

from members.models import Member, Membership

from .. import gateway
from ..models import SubscriptionState
from . import sync

logger = logging.getLogger("payments.reconcile")


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


class _Changed(Exception):
    """The member's billing rows changed while Stripe was read: the list may be older."""


# A member whose subscriptions keep changing (a burst of events) is left for the next run.
ATTEMPTS = 3
CHANGED_MEANWHILE = (
    "The member's subscriptions changed while Stripe was read, {n} times in a row; "
    "nothing was changed for this member. Run it again."
)


def _billing_version(member_id: int) -> tuple:
    """What a webhook, a checkout or a cancel changes of a member: their subscription
    and customer IDs, and the last write of each of their states and of the held one's
    (each found by an index)."""
    ids = Member.objects.filter(pk=member_id).values_list(
        "stripe_subscription_id", "stripe_customer_id").first()
    held = Q(subscription_id=ids[0]) if ids and ids[0] else Q(pk__in=[])
    states = SubscriptionState.objects.filter(Q(member_id=member_id) | held).order_by("pk")
    return ids, list(states.values_list("pk", "updated_at"))


def reconcile_member(member: Member, *, dry_run: bool = False) -> ReconcileReport:
    """Make one member match Stripe. With ``dry_run`` the changes are reported, then rolled back.

    Stripe's list is applied only if nothing of the member's changed while it was read
    (an event applied, a checkout, a cancel): else it is read again.
    """
    report = ReconcileReport(member.pk, member.email, dry_run=dry_run)
    for _attempt in range(ATTEMPTS):
        seen = _billing_version(member.pk)
        customer_id = seen[0][1] if seen[0] else None  # as stored now, not as passed in
        if not customer_id:
            return report
        try:
            subscriptions = gateway.list_subscriptions(customer_id, member_id=member.pk)
        except gateway.StripeError as exc:
            report.errors.append(f"Could not read subscriptions from Stripe: {exc.message}")
            return report
        try:
            _reconcile_once(report, member.pk, subscriptions, seen)
        except _Changed:
            continue
        return report
    report.errors.append(CHANGED_MEANWHILE.format(n=ATTEMPTS))
    return report


def _reconcile_once(report: ReconcileReport, member_id: int, subscriptions: list[dict],
                    seen: tuple) -> None:
    # Read after the list: no event that existed when it was read is later than this.
    marker = sync.fetch_marker()
    try:
        with transaction.atomic():
            sync.lock_member(member_id)
            if _billing_version(member_id) != seen:
                raise _Changed
            report.changes = _apply(member_id, subscriptions, marker)
            if report.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except Member.DoesNotExist:
        report.errors.append("The member no longer exists.")
    except gateway.StripeError as exc:
        report.changes = []
        report.errors.append(f"Stripe failed while reconciling: {exc.message}")
    except DatabaseError as exc:  # IntegrityError too: rolled back, the next member goes on
        logger.exception("reconcile_failed member=%s", member_id)
        report.changes = []
        report.errors.append(
            f"Database error while reconciling ({type(exc).__name__}); nothing was changed "
            "for this member. A subscription ID held by another member is the usual cause."
        )


def _apply(member_id: int, subscriptions: list[dict], marker: int) -> list[str]:
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
        # Everything Stripe said was read before the transaction: nothing here asks again.
        truth = sync.StripeTruth(snapshots={s["id"]: s for s in subscriptions})
        changes += sync.apply_snapshot(member, state, current, truth=truth).changes
        sync.mark_fetched(state, marker)
        state.save()
    for subscription in subscriptions:
        if current is not None and subscription["id"] == current["id"]:
            continue
        # Not current: record what Stripe says, and whatever it granted goes.
        state = sync.lock_state(subscription["id"])
        was_deleted = state.deleted
        sync.record_snapshot(state, member, subscription)
        sync.mark_fetched(state, marker)
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

