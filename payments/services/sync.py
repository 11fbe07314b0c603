"""Apply Stripe subscription snapshots and events to members: the one-subscription rule.

Ordering is ``services.ordering``, groups ``services.grants``, locks ``services.locks``;
nothing here calls Stripe (docs/billing.md, "No Stripe call inside a transaction").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from members.models import Member

from ..models import SubscriptionState
from . import grants
from .locks import (  # noqa: F401  (cancel and reconcile use them through sync)
    Retry,
    lock_member,
    lock_member_and_state,
    lock_state,
    save_state,
)
from .ordering import (  # noqa: F401  (the same)
    NeedsStripe,
    StripeTruth,
    decide,
    fetch_marker,
    mark_fetched,
)

GRANTING_STATUSES = grants.GRANTING_STATUSES
# Stripe never brings these back: treat them like a deletion.
TERMINAL_STATUSES = frozenset({"canceled", "incomplete_expired"})
DELETED_EVENT = "customer.subscription.deleted"

logger = logging.getLogger("payments.sync")


@dataclass
class SyncResult:
    """What applying one snapshot or event did."""

    member: Member | None = None
    changes: list[str] = field(default_factory=list)
    # How the event was settled when not simply applied (skipped, fetched, ignored).
    note: str = ""
    ignored: bool = False
    # Set when this event made the member hold a subscription they did not hold before.
    newly_granted: bool = False


# --- Reading a subscription object ------------------------------------------

def _id_of(value) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def customer_id_of(subscription: dict) -> str | None:
    return _id_of(subscription.get("customer"))


def price_ids_of(subscription: dict) -> list[str]:
    items = (subscription.get("items") or {}).get("data") or []
    ids = [_id_of(item.get("price")) for item in items]
    return [price_id for price_id in ids if price_id]


def current_period_end_of(subscription: dict) -> datetime | None:
    """Since API 2025-03-31 the period lives on the items; older payloads have it on top."""
    items = (subscription.get("items") or {}).get("data") or []
    value = items[0].get("current_period_end") if items else None
    value = value or subscription.get("current_period_end")
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _moment(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def grants_access(subscription: dict) -> bool:
    return subscription.get("status") in GRANTING_STATUSES


def metadata_member_id(subscription: dict) -> int | None:
    member_id = str((subscription.get("metadata") or {}).get("member_id") or "")
    # ASCII digits only: "²" is a digit to str.isdigit(), not to int().
    return int(member_id) if member_id.isascii() and member_id.isdigit() else None


def find_member(subscription: dict) -> Member | None:
    """By the customer ID first, then by ``metadata.member_id`` (set by our checkout)."""
    customer_id = customer_id_of(subscription)
    if customer_id:
        member = Member.objects.filter(stripe_customer_id=customer_id).first()
        if member is not None:
            return member
    member_id = metadata_member_id(subscription)
    return Member.objects.filter(pk=member_id).first() if member_id else None


# --- Applying ---------------------------------------------------------------

class ImmediateWrites:
    """Where applying reads the rows it needs and sends its writes: at once, in the
    caller's transaction. ``services.batch.BatchWrites`` gathers them for many events.
    """

    def state_of(self, subscription_id: str) -> SubscriptionState | None:
        return SubscriptionState.objects.filter(subscription_id=subscription_id).first()

    def grant(self, member: Member, subscription_id: str, price_ids: list[str]) -> list[str]:
        return grants.grant(member, subscription_id, price_ids)

    def revoke(self, member: Member, subscription_id: str) -> list[str]:
        return grants.revoke(member, subscription_id)

    def end_held(self, member: Member, ended: str) -> tuple[list[str], list[str]]:
        return grants.end_held(member, ended)

    def held_by(self, member_id: int, subscription_id: str) -> bool:
        """Whether that member holds the subscription (asked only when its state names
        another member than the event's: rare)."""
        return Member.objects.filter(pk=member_id,
                                     stripe_subscription_id=subscription_id).exists()

    def set_customer(self, member: Member, customer_id: str) -> None:
        member.stripe_customer_id = customer_id
        member.save(update_fields=["stripe_customer_id"])

    def save_state(self, state: SubscriptionState, later: list | None) -> None:
        save_state(state, later)


IMMEDIATE = ImmediateWrites()


def holds_live_subscription(member: Member, truth: StripeTruth | None = None,
                            writes: ImmediateWrites = IMMEDIATE) -> bool:
    """Whether the member's held subscription still grants access, by the newest truth known.

    Raises NeedsStripe when nothing is stored about it and ``truth`` has not got it.
    """
    held = member.stripe_subscription_id
    if not held:
        return False
    state = writes.state_of(held)
    if state is not None and (state.status or state.deleted):
        return not state.deleted and state.status in GRANTING_STATUSES
    truth = truth or StripeTruth()
    if held not in truth.snapshots:
        raise NeedsStripe(held)
    snapshot = truth.snapshots[held]
    return snapshot is not None and grants_access(snapshot)


def record_snapshot(
    state: SubscriptionState, member: Member, subscription: dict, *, deleted: bool = False
) -> None:
    """Copy a snapshot onto the state row (the caller saves it)."""
    deleted = deleted or subscription.get("status") in TERMINAL_STATUSES
    state.customer_id = customer_id_of(subscription) or state.customer_id
    state.member_id = member.pk  # the id alone: no related-object cache to keep in step
    state.status = subscription.get("status") or ("canceled" if deleted else "")
    if "items" in subscription:
        state.price_ids = price_ids_of(subscription)
        state.current_period_end = current_period_end_of(subscription)
    if "cancel_at_period_end" in subscription or "cancel_at" in subscription:
        state.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
        state.cancel_at = _moment(subscription.get("cancel_at"))
    if "trial_end" in subscription:
        state.trial_end = _moment(subscription.get("trial_end"))
    state.created = _moment(subscription.get("created")) or state.created
    state.deleted = state.deleted or deleted


def apply_snapshot(
    member: Member,
    state: SubscriptionState,
    subscription: dict,
    *,
    deleted: bool = False,
    truth: StripeTruth | None = None,
    writes: ImmediateWrites = IMMEDIATE,
) -> SyncResult:
    """Make the member match one subscription snapshot. ``member`` and ``state`` are locked.

    The caller saves ``state``.
    """
    result = SyncResult(member=member)
    subscription_id = subscription["id"]
    deleted = deleted or subscription.get("status") in TERMINAL_STATUSES
    record_snapshot(state, member, subscription, deleted=deleted)

    if not deleted and grants_access(subscription):
        held = member.stripe_subscription_id
        if held and held != subscription_id and holds_live_subscription(member, truth, writes):
            result.ignored = True
            result.note = (
                f"Not applied: second subscription {subscription_id} for this member, who "
                f"already holds the active subscription {held} (one subscription per "
                f"member); {subscription_id} is not granted; cancel it in Stripe."
            )
            logger.warning(
                "second_subscription member=%s subscription=%s held=%s outcome=not_granted "
                "action=cancel_it_in_stripe", member.pk, subscription_id, held,
            )
            return result
        result.newly_granted = held != subscription_id
        result.changes += writes.grant(member, subscription_id, state.price_ids)
        return result
    if member.stripe_subscription_id != subscription_id:
        result.changes += writes.revoke(member, subscription_id)
        return result
    revoked, other = writes.end_held(member, subscription_id)
    result.changes += revoked
    if other:
        result.newly_granted = True
        result.note = other[0] + " at once."
        result.changes += other[1:]
    return result


def revoke(member: Member, subscription_id: str) -> list[str]:
    """Remove what this subscription granted; clear the member's ID if it is this one."""
    return grants.revoke(member, subscription_id)


def apply_event(event: dict, *, truth: StripeTruth | None = None,
                later: list | None = None) -> SyncResult:
    """Apply one ``customer.subscription.*`` event, in order. Call inside ``atomic()``.

    Raises NeedsStripe (roll back, fetch, call again with ``truth``) or Retry.
    ``later`` may receive the state row's update (see ``locks.save_state``).
    """
    subscription = event["data"]["object"]
    member, state = lock_member_and_state(
        subscription["id"], customer_id_of(subscription), metadata_member_id(subscription))
    return apply_locked(event, member, state, truth=truth, later=later)


def apply_locked(event: dict, member: Member | None, state: SubscriptionState | None, *,
                 truth: StripeTruth | None = None, later: list | None = None,
                 writes: ImmediateWrites = IMMEDIATE) -> SyncResult:
    """``apply_event`` once the member and the state row (None: new here) are locked."""
    subscription = event["data"]["object"]
    subscription_id = subscription["id"]
    customer_id = customer_id_of(subscription)
    if member is None:
        return SyncResult(ignored=True, note=(
            f"No member has customer {customer_id or '(none)'} or the metadata member_id "
            f"{(subscription.get('metadata') or {}).get('member_id') or '(none)'}."
        ))
    if customer_id and member.stripe_customer_id and member.stripe_customer_id != customer_id:
        if (metadata_member_id(subscription) == member.pk and grants_access(subscription)
                and event["type"] != DELETED_EVENT):
            # Our checkout made it for this member under a new customer (two sessions
            # paid before the first webhook): they pay twice, and it grants nothing.
            logger.warning(
                "second_customer member=%s subscription=%s customer=%s stored_customer=%s "
                "outcome=not_granted action=cancel_it_in_stripe", member.pk, subscription_id,
                customer_id, member.stripe_customer_id)
        return SyncResult(member=member, ignored=True, note=(
            f"The subscription's customer {customer_id} is not the member's customer "
            f"{member.stripe_customer_id}."
        ))
    if (state is not None and state.member_id not in (None, member.pk)
            and writes.held_by(state.member_id, subscription_id)):
        # Stripe never moves a subscription between customers: only a forged (or
        # hand-edited) event gets here. The holder keeps it; no ordering marker moves.
        return SyncResult(member=member, ignored=True, note=(
            f"Not applied: subscription {subscription_id} is held by another member "
            f"(#{state.member_id}); a subscription gives one member its groups."
        ))
    changes: list[str] = []
    if customer_id and not member.stripe_customer_id:
        writes.set_customer(member, customer_id)
        changes.append(f"customer ID set to {customer_id}")

    state = state or SubscriptionState(subscription_id=subscription_id)
    created, event_id = int(event["created"]), event["id"]
    is_deletion = event["type"] == DELETED_EVENT or subscription.get("status") in TERMINAL_STATUSES
    action, note = decide(state, created, event_id, is_deletion)
    if action == "skip":
        return SyncResult(member=member, changes=changes, note=note)
    if action == "fetch":
        truth = truth or StripeTruth()
        subscription = truth.current(state, created)
        mark_fetched(state, truth.marker)

    result = apply_snapshot(member, state, subscription, deleted=is_deletion, truth=truth,
                            writes=writes)
    if created >= state.last_event_created:
        state.last_event_created, state.last_event_id = created, event_id
    writes.save_state(state, later)
    result.changes = changes + result.changes
    result.note = " ".join(filter(None, [note, result.note]))
    return result
