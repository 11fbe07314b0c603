"""Apply Stripe subscription snapshots and events to members, in order.

The rules (statuses, the one-subscription rule, ordering, Stripe's truth for
ties) are described in docs/billing.md; grants live in ``services.grants``.
No function here calls Stripe: when only Stripe can settle a case, ``NeedsStripe``
is raised, the caller rolls back, fetches with ``StripeTruth.fetch`` outside any
transaction, and applies again with the answer under the locks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction

from members.models import Member

from .. import gateway
from ..models import StripeSettings, SubscriptionState
from . import grants

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


def _metadata_member_id(subscription: dict) -> int | None:
    member_id = str((subscription.get("metadata") or {}).get("member_id") or "")
    return int(member_id) if member_id.isdigit() else None


# --- Stripe's truth, read outside any transaction -----------------------------

class NeedsStripe(Exception):
    """Only Stripe can settle this: roll back, ``StripeTruth.fetch``, apply again."""

    def __init__(self, subscription_id: str, *, seen: tuple | None = None,
                 at_least: int = 0) -> None:
        super().__init__(subscription_id)
        self.subscription_id = subscription_id
        self.seen = seen  # the state the fetch was decided on; None: a held subscription
        self.at_least = at_least


class Retry(Exception):
    """A row this pass did not see was committed meanwhile: roll back and apply again."""


def _state_version(state: SubscriptionState) -> tuple:
    return (state.last_event_created, state.last_event_id, state.fetched_at, state.deleted)


@dataclass
class StripeTruth:
    """Subscriptions fetched from Stripe for one event, and when."""

    snapshots: dict[str, dict | None] = field(default_factory=dict)  # None: unknown to Stripe
    decided_on: dict[str, tuple] = field(default_factory=dict)
    marker: int = 0

    def fetch(self, need: NeedsStripe) -> None:
        """Ask Stripe. Call outside any transaction (the gateway refuses otherwise)."""
        # Webhooks keep members in sync even while checkout is switched off, so
        # only a secret key is needed here, not the "enabled" switch.
        config = StripeSettings.load()
        try:
            self.snapshots[need.subscription_id] = gateway.retrieve_subscription(
                need.subscription_id, config=config)
        except gateway.StripeInvalidRequest as exc:
            if need.seen is not None or not exc.is_missing:
                raise
            self.snapshots[need.subscription_id] = None
        if need.seen is not None:
            self.decided_on[need.subscription_id] = need.seen
            self.marker = fetch_marker(at_least=need.at_least)

    def current(self, state: SubscriptionState, at_least: int) -> dict:
        """The fetched snapshot of ``state``'s subscription if nothing was applied since."""
        subscription_id = state.subscription_id
        seen = _state_version(state)
        if self.decided_on.get(subscription_id) != seen:
            raise NeedsStripe(subscription_id, seen=seen, at_least=at_least)
        return self.snapshots[subscription_id]


def fetch_marker(*, at_least: int = 0) -> int:
    """A time (unix seconds, Stripe's clock) no earlier than any event existing now.

    Real time is enough against Stripe, whose clock is ours give or take NTP.
    But a clock can run ahead of ours (the emulator's ``advance``, Stripe test
    clocks), so Stripe's newest event time is read too and the later one wins.
    Too late a marker only costs extra fetches; too early a one would let a stale
    event through, so if Stripe cannot be asked, ``at_least`` (the event time at
    hand) is the floor. Call outside any transaction.
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


# --- Finding and locking -----------------------------------------------------

def find_member(subscription: dict) -> Member | None:
    """By the customer ID first, then by ``metadata.member_id`` (set by our checkout)."""
    customer_id = customer_id_of(subscription)
    if customer_id:
        member = Member.objects.filter(stripe_customer_id=customer_id).first()
        if member is not None:
            return member
    member_id = _metadata_member_id(subscription)
    return Member.objects.filter(pk=member_id).first() if member_id else None


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


def _columns(model, alias: str) -> str:
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def _locked_member_and_state_sql(where: str) -> str:
    member_table = Member._meta.db_table
    state_table = SubscriptionState._meta.db_table
    select = f"SELECT {_columns(Member, 'm')}, {_columns(SubscriptionState, 's')}"
    if connection.vendor != "postgresql":
        # SQLite: the transaction holds the database's write lock (BEGIN IMMEDIATE).
        return (f'{select} FROM "{member_table}" m LEFT JOIN "{state_table}" s '
                f'ON s."subscription_id" = %s WHERE m."{where}" = %s')
    # The member is locked first (every writer locks member, then state), then the
    # state: each locked in its own sub-select, so each row read is its newest
    # committed version, never the statement's older snapshot.
    return """{select} FROM (SELECT * FROM "{member}" WHERE "{where}" = %s FOR UPDATE) m
        LEFT JOIN LATERAL (SELECT * FROM "{state}" WHERE "subscription_id" = %s
        AND m."id" IS NOT NULL FOR UPDATE) s ON TRUE""".format(  # noqa: S608, UP032 (model names)
        select=select, member=member_table, where=where, state=state_table)


def lock_member_and_state(
    subscription: dict,
) -> tuple[Member | None, SubscriptionState | None]:
    """The subscription's member and state row, locked together in one read.

    The member is found by customer ID, else by ``metadata.member_id``. The state
    is None when the subscription is new here.
    """
    customer_id = customer_id_of(subscription)
    lookups = [("stripe_customer_id", customer_id)] if customer_id else []
    member_id = _metadata_member_id(subscription)
    if member_id:
        lookups.append(("id", member_id))
    for column, value in lookups:
        sql = _locked_member_and_state_sql(column)
        params = ([subscription["id"], value] if connection.vendor != "postgresql"
                  else [value, subscription["id"]])
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is not None:
            return _hydrate(row)
    return None, None


def _hydrate(row: tuple) -> tuple[Member, SubscriptionState | None]:
    member_fields = [f.attname for f in Member._meta.concrete_fields]
    state_fields = [f.attname for f in SubscriptionState._meta.concrete_fields]
    split = len(member_fields)
    member = Member.from_db(connection.alias, member_fields, db_values(Member, row[:split]))
    state_row = row[split:]
    if state_row[0] is None:
        return member, None
    return member, SubscriptionState.from_db(
        connection.alias, state_fields, db_values(SubscriptionState, state_row))


def db_values(model, values, fields=None) -> list:
    """Raw database values as the ORM would give them (JSON decoded, datetimes aware)."""
    out = []
    for f, value in zip(fields or model._meta.concrete_fields, values, strict=True):
        for converter in connection.ops.get_db_converters(f.get_col(model._meta.db_table)) + \
                f.get_db_converters(connection):
            value = converter(value, f.get_col(model._meta.db_table), connection)
        out.append(value)
    return out


def save_state(state: SubscriptionState) -> None:
    """Write the state row: an insert when new, else one targeted update."""
    if state._state.adding:
        try:
            state.save(force_insert=True)
        except IntegrityError:
            # Committed by another transaction after this one's snapshot was taken.
            raise Retry from None
        return
    state.save(update_fields=[
        "customer_id", "member", "status", "price_ids", "current_period_end",
        "last_event_created", "last_event_id", "fetched_at", "deleted", "updated_at",
    ])


# --- Applying ---------------------------------------------------------------

def holds_live_subscription(member: Member, truth: StripeTruth | None = None) -> bool:
    """Whether the member's held subscription still grants access, by the newest truth known.

    Raises NeedsStripe when nothing is stored about it and ``truth`` has not got it.
    """
    held = member.stripe_subscription_id
    if not held:
        return False
    state = SubscriptionState.objects.filter(subscription_id=held).first()
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
    truth: StripeTruth | None = None,
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
        if held and held != subscription_id and holds_live_subscription(member, truth):
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
        result.changes += grants.grant(member, subscription_id, state.price_ids)
        return result
    was_held = member.stripe_subscription_id == subscription_id
    result.changes += grants.revoke(member, subscription_id)
    if was_held:
        other = grants.grant_other_live(member, subscription_id)
        if other:
            result.note = other[0] + " at once."
            result.changes += other[1:]
    return result


def revoke(member: Member, subscription_id: str) -> list[str]:
    """Remove what this subscription granted; clear the member's ID if it is this one."""
    return grants.revoke(member, subscription_id)


def _ordering_note(state: SubscriptionState, created: int, event_id: str,
                   is_deletion: bool) -> tuple[str, str | None]:
    """How the event stands against the state: ``(action, note)``.

    ``action`` is ``skip``, ``fetch`` or ``apply``.
    """
    if state.deleted:
        return "skip", ("Subscription already deleted." if is_deletion
                        else "Subscription already deleted; deletion is final.")
    if is_deletion:
        return "apply", None  # final whatever the order
    if created < state.last_event_created or (
        created == state.last_event_created and event_id == state.last_event_id
    ):
        return "skip", "Older than the state already applied; skipped."
    if created == state.last_event_created:
        # Same second as the last applied event: only Stripe knows which is newer.
        return "fetch", "Same-second events: applied the subscription as fetched from Stripe."
    if created <= state.fetched_at:
        # Not newer than a snapshot fetched from Stripe (reconcile, a tie): the
        # event's own snapshot may be stale, Stripe's current one is not.
        return "fetch", ("Not newer than the last snapshot fetched from Stripe: applied the "
                         "subscription as fetched from Stripe again.")
    return "apply", None


def apply_event(event: dict, *, truth: StripeTruth | None = None) -> SyncResult:
    """Apply one ``customer.subscription.*`` event, in order. Call inside ``atomic()``.

    Raises NeedsStripe (roll back, fetch, call again with ``truth``) or Retry.
    """
    subscription = event["data"]["object"]
    subscription_id = subscription["id"]
    customer_id = customer_id_of(subscription)
    member, state = lock_member_and_state(subscription)
    if member is None:
        return SyncResult(ignored=True, note=(
            f"No member has customer {customer_id or '(none)'} or the metadata member_id "
            f"{(subscription.get('metadata') or {}).get('member_id') or '(none)'}."
        ))
    if customer_id and member.stripe_customer_id and member.stripe_customer_id != customer_id:
        return SyncResult(member=member, ignored=True, note=(
            f"The subscription's customer {customer_id} is not the member's customer "
            f"{member.stripe_customer_id}."
        ))
    changes: list[str] = []
    if customer_id and not member.stripe_customer_id:
        member.stripe_customer_id = customer_id
        member.save(update_fields=["stripe_customer_id"])
        changes.append(f"customer ID set to {customer_id}")

    state = state or SubscriptionState(subscription_id=subscription_id)
    created, event_id = int(event["created"]), event["id"]
    is_deletion = event["type"] == DELETED_EVENT or subscription.get("status") in TERMINAL_STATUSES
    action, note = _ordering_note(state, created, event_id, is_deletion)
    if action == "skip":
        return SyncResult(member=member, changes=changes, note=note)
    if action == "fetch":
        truth = truth or StripeTruth()
        subscription = truth.current(state, created)
        mark_fetched(state, truth.marker)

    result = apply_snapshot(member, state, subscription, deleted=is_deletion, truth=truth)
    if created >= state.last_event_created:
        state.last_event_created, state.last_event_id = created, event_id
    save_state(state)
    result.changes = changes + result.changes
    result.note = " ".join(filter(None, [note, result.note]))
    return result
