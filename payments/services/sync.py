"""Apply a Stripe subscription snapshot to a member: groups and IDs.

The rules, in one place:

* ``active``, ``trialing`` and ``past_due`` grant access (``past_due`` is
  Stripe's retry window); every other status revokes it.
* Granted: the member is in exactly the groups whose price ID is among the
  subscription's items, each as a ``Membership(source=stripe)`` carrying the
  subscription ID, and the member holds that subscription ID.
* Revoked or deleted: the Stripe memberships of that subscription go, and the
  member's subscription ID is cleared if it is this subscription.
* A membership an administrator gave by hand (``source=admin``) is never
  touched, even when the subscription also grants that group.
* One subscription per member: while the member holds a *different*
  subscription that is still live (granting, not deleted, by the newest state
  we know — asking Stripe when we know nothing), another subscription's
  snapshot is recorded but grants nothing (the event is stored as ignored,
  and a WARNING is logged: the member is paying twice and an operator should
  cancel the second one in Stripe; we never cancel it ourselves). Once the
  held one is revoked or deleted, the next granting snapshot takes over.

Ordering (``apply_event``): a ``SubscriptionState`` row per subscription,
locked, remembers the ``created`` time and ID of the newest event applied.
An older event is skipped; a newer one is applied; deletion is final; a tie
(same second, other event) is settled by fetching the subscription from
Stripe. A snapshot fetched from Stripe (reconcile, a tie) is newer than
every event that existed when it was fetched, so it sets ``fetched_at`` (a
reading of Stripe's clock, see ``fetch_marker``): an event created at or
before it is settled like a tie, by fetching again — never by applying the
event's own, possibly stale, snapshot. Callers run these functions inside
``transaction.atomic()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import IntegrityError, transaction

from members.models import Member, MemberGroup, Membership

from .. import gateway
from ..models import StripeSettings, SubscriptionState

GRANTING_STATUSES = frozenset({"active", "trialing", "past_due"})
# Stripe never brings these back: treat them like a deletion.
TERMINAL_STATUSES = frozenset({"canceled", "incomplete_expired"})
DELETED_EVENT = "customer.subscription.deleted"

logger = logging.getLogger("payments.sync")


@dataclass
class SyncResult:
    """What applying one snapshot or event did."""

    member: Member | None = None
    changes: list[str] = field(default_factory=list)
    # Why nothing (or not everything) was applied; empty when applied as is.
    note: str = ""
    ignored: bool = False


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


def grants_access(subscription: dict) -> bool:
    return subscription.get("status") in GRANTING_STATUSES


# --- Finding and locking -----------------------------------------------------

def find_member(subscription: dict) -> Member | None:
    """By the customer ID first, then by ``metadata.member_id`` (set by our checkout)."""
    customer_id = customer_id_of(subscription)
    if customer_id:
        member = Member.objects.filter(stripe_customer_id=customer_id).first()
        if member is not None:
            return member
    member_id = str((subscription.get("metadata") or {}).get("member_id") or "")
    if member_id.isdigit():
        return Member.objects.filter(pk=int(member_id)).first()
    return None


def lock_member(member_id: int) -> Member:
    return Member.objects.select_for_update().get(pk=member_id)


def lock_state(subscription_id: str) -> SubscriptionState:
    """The subscription's state row, locked, created if new (safe against a racing insert)."""
    state = SubscriptionState.objects.select_for_update().filter(
        subscription_id=subscription_id
    ).first()
    if state is not None:
        return state
    try:
        with transaction.atomic():
            return SubscriptionState.objects.create(subscription_id=subscription_id)
    except IntegrityError:
        # Another transaction created it first; PostgreSQL made us wait for its commit.
        return SubscriptionState.objects.select_for_update().get(subscription_id=subscription_id)


# --- Applying ---------------------------------------------------------------

def _fetch_subscription(subscription_id: str) -> dict:
    # Webhooks keep members in sync even while checkout is switched off, so
    # only a secret key is needed here, not the "enabled" switch.
    return gateway.retrieve_subscription(subscription_id, config=StripeSettings.load())


def fetch_marker(*, at_least: int = 0) -> int:
    """A time (unix seconds, Stripe's clock) no earlier than any event existing now.

    Real time is enough against Stripe, whose clock is ours give or take NTP.
    But a clock can run ahead of ours (the emulator's ``advance``, Stripe test
    clocks), so Stripe's newest event time is read too and the later one wins.
    Too late a marker only costs extra fetches; too early a one would let a stale
    event through, so if Stripe cannot be asked, ``at_least`` (the event time at
    hand) is the floor.
    """
    marker = max(int(time.time()), at_least)
    try:
        newest = gateway.newest_event_created(config=StripeSettings.load())
    except gateway.StripeError:
        return marker
    return max(marker, newest or 0)


def mark_fetched(state: SubscriptionState, marker: int) -> None:
    """Record that ``state`` holds a snapshot fetched from Stripe (the caller saves).

    ``marker`` comes from ``fetch_marker()`` read after the fetch."""
    state.fetched_at = max(state.fetched_at, marker)


def holds_live_subscription(
    member: Member, fetch: Callable[[str], dict] = _fetch_subscription
) -> bool:
    """Whether the member's held subscription still grants access, by the newest truth known."""
    held = member.stripe_subscription_id
    if not held:
        return False
    state = SubscriptionState.objects.filter(subscription_id=held).first()
    if state is not None and (state.status or state.deleted):
        return not state.deleted and state.status in GRANTING_STATUSES
    try:
        return grants_access(fetch(held))
    except gateway.StripeInvalidRequest as exc:
        if exc.is_missing:
            return False
        raise


def record_snapshot(
    state: SubscriptionState, member: Member, subscription: dict, *, deleted: bool = False
) -> None:
    """Copy a snapshot onto the state row (the caller saves it)."""
    deleted = deleted or subscription.get("status") in TERMINAL_STATUSES
    state.customer_id = customer_id_of(subscription) or state.customer_id
    state.member = member
    state.status = subscription.get("status") or ("canceled" if deleted else "")
    if "items" in subscription:
        state.price_ids = price_ids_of(subscription)
        state.current_period_end = current_period_end_of(subscription)
    state.deleted = state.deleted or deleted


def apply_snapshot(
    member: Member,
    state: SubscriptionState,
    subscription: dict,
    *,
    deleted: bool = False,
    fetch: Callable[[str], dict] = _fetch_subscription,
) -> SyncResult:
    """Make the member match one subscription snapshot. ``member`` and ``state`` are locked."""
    result = SyncResult(member=member)
    subscription_id = subscription["id"]
    deleted = deleted or subscription.get("status") in TERMINAL_STATUSES
    record_snapshot(state, member, subscription, deleted=deleted)

    if not deleted and grants_access(subscription):
        held = member.stripe_subscription_id
        if held and held != subscription_id and holds_live_subscription(member, fetch):
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
        result.changes += _grant(member, subscription_id, state.price_ids)
    else:
        result.changes += revoke(member, subscription_id)
    return result


def _grant(member: Member, subscription_id: str, price_ids: list[str]) -> list[str]:
    changes: list[str] = []
    wanted = {g.pk: g for g in MemberGroup.objects.filter(stripe_price_id__in=price_ids)}
    current = {m.group_id: m for m in member.memberships.select_related("group")}

    new = [
        Membership(member=member, group=group, source=Membership.Source.STRIPE,
                   stripe_subscription_id=subscription_id)
        for group_id, group in wanted.items()
        if group_id not in current
    ]
    retag = [
        m.pk for group_id, m in current.items()
        if group_id in wanted and m.source == Membership.Source.STRIPE
        and m.stripe_subscription_id != subscription_id
    ]
    gone = [
        m for group_id, m in current.items()
        if group_id not in wanted and m.source == Membership.Source.STRIPE
    ]
    if new:
        Membership.objects.bulk_create(new)
        changes += [f"added to group {m.group.name}" for m in new]
    if retag:
        Membership.objects.filter(pk__in=retag).update(stripe_subscription_id=subscription_id)
    if gone:
        Membership.objects.filter(pk__in=[m.pk for m in gone]).delete()
        changes += [f"removed from group {m.group.name}" for m in gone]
    if member.stripe_subscription_id != subscription_id:
        previous = member.stripe_subscription_id or "none"
        member.stripe_subscription_id = subscription_id
        member.save(update_fields=["stripe_subscription_id"])
        changes.append(f"subscription ID {previous} → {subscription_id}")
    return changes


def revoke(member: Member, subscription_id: str) -> list[str]:
    """Remove what this subscription granted; clear the member's ID if it is this one."""
    changes: list[str] = []
    granted = member.memberships.filter(source=Membership.Source.STRIPE)
    if member.stripe_subscription_id != subscription_id:
        granted = granted.filter(stripe_subscription_id=subscription_id)
    names = list(granted.values_list("group__name", flat=True))
    if names:
        Membership.objects.filter(pk__in=granted.values("pk")).delete()
        changes += [f"removed from group {name}" for name in names]
    if member.stripe_subscription_id == subscription_id:
        member.stripe_subscription_id = None
        member.save(update_fields=["stripe_subscription_id"])
        changes.append(f"subscription ID {subscription_id} cleared")
    return changes


def apply_event(
    event: dict, *, fetch: Callable[[str], dict] = _fetch_subscription
) -> SyncResult:
    """Apply one ``customer.subscription.*`` event, in order. Call inside ``atomic()``."""
    subscription = event["data"]["object"]
    subscription_id = subscription["id"]
    found = find_member(subscription)
    customer_id = customer_id_of(subscription)
    if found is None:
        return SyncResult(ignored=True, note=(
            f"No member has customer {customer_id or '(none)'} or the metadata member_id "
            f"{(subscription.get('metadata') or {}).get('member_id') or '(none)'}."
        ))
    member = lock_member(found.pk)
    if customer_id and member.stripe_customer_id and member.stripe_customer_id != customer_id:
        return SyncResult(member=member, ignored=True, note=(
            f"The subscription's customer {customer_id} is not the member's customer "
            f"{member.stripe_customer_id}."
        ))
    changes: list[str] = []
    tie_note = ""
    if customer_id and not member.stripe_customer_id:
        member.stripe_customer_id = customer_id
        member.save(update_fields=["stripe_customer_id"])
        changes.append(f"customer ID set to {customer_id}")

    state = lock_state(subscription_id)
    created, event_id = int(event["created"]), event["id"]
    is_deletion = event["type"] == DELETED_EVENT or subscription.get("status") in TERMINAL_STATUSES

    if state.deleted:
        return SyncResult(member=member, changes=changes,
                          note="Subscription already deleted; deletion is final.")
    fetched = False
    if not is_deletion:
        if created < state.last_event_created or (
            created == state.last_event_created and event_id == state.last_event_id
        ):
            return SyncResult(member=member, changes=changes,
                              note="Older than the state already applied; skipped.")
        if created == state.last_event_created:
            # Same second as the last applied event: only Stripe knows which is newer.
            subscription = fetch(subscription_id)
            fetched = True
            tie_note = "Same-second events: applied the subscription as fetched from Stripe."
        elif created <= state.fetched_at:
            # Not newer than a snapshot fetched from Stripe (reconcile, a tie): the
            # event's own snapshot may be stale, Stripe's current one is not.
            subscription = fetch(subscription_id)
            fetched = True
            tie_note = ("Not newer than the last snapshot fetched from Stripe: applied the "
                        "subscription as fetched from Stripe again.")

    result = apply_snapshot(member, state, subscription, deleted=is_deletion, fetch=fetch)
    if fetched:
        mark_fetched(state, fetch_marker(at_least=created))
    if created >= state.last_event_created:
        state.last_event_created, state.last_event_id = created, event_id
    state.save()
    result.changes = changes + result.changes
    result.note = " ".join(filter(None, [tie_note, result.note]))
    return result
