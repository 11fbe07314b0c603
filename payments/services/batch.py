"""Apply many queued webhook events in one transaction, with the one-event rules.

Two statements lock the batch's rows, ``sync.apply_locked`` runs on them in memory
(``BatchWrites``), and one statement writes the outcome.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from kuroco_billing.rows import columns, from_row
from members.models import Member, MemberGroup, Membership

from ..models import WEBHOOK_EVENTS, CheckoutIntent, SubscriptionState, WebhookEvent
from . import sync
from .checkout import CLOSED, INTENT_METADATA, OPEN
from .grants import GRANTING_STATUSES
from .ordering import NeedsStripe

logger = logging.getLogger("payments.webhooks")

_STATE_FIELDS = (
    "subscription_id", "customer_id", "member_id", "status", "price_ids", "current_period_end",
    "cancel_at_period_end", "cancel_at", "trial_end", "created", "last_event_created",
    "last_event_id", "fetched_at", "deleted",
)
_STATE_TYPES = {
    "subscription_id": "text", "customer_id": "text", "member_id": "bigint", "status": "text",
    "price_ids": "jsonb", "current_period_end": "timestamptz",
    "cancel_at_period_end": "boolean", "cancel_at": "timestamptz", "trial_end": "timestamptz",
    "created": "timestamptz", "last_event_created": "bigint", "last_event_id": "text",
    "fetched_at": "bigint", "deleted": "boolean",
}


class Unbatchable(Exception):
    """Something this batch cannot settle by itself (rare): every event goes one by one."""


@dataclass
class BatchOutcome:
    """What a batch did: the applied events, the ones left for the one-event path."""

    # (event, status, note, member ID) for each event applied here.
    applied: list[tuple[dict, str, str, int | None]] = field(default_factory=list)
    deferred: list[dict] = field(default_factory=list)
    left_open: list[CheckoutIntent] = field(default_factory=list)
    changes: dict[int, list[str]] = field(default_factory=dict)


# --- Locking every row of the batch -------------------------------------------------------

# What the rules read of a member; the rest of the row stays unloaded (deferred).
_MEMBER_FIELDS = ("id", "stripe_customer_id", "stripe_subscription_id")


def _lock_members(customer_ids: list[str], member_ids: list[int]) -> list[Member]:
    sql = ('SELECT {cols} FROM "{table}" m WHERE m."stripe_customer_id" = ANY(%s) '  # noqa: S608
           'OR m."id" = ANY(%s) ORDER BY m."id" FOR UPDATE').format(
        cols=", ".join(f'm."{name}"' for name in _MEMBER_FIELDS), table=Member._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [customer_ids, member_ids])
        alias = connection.alias  # once: each attribute of ``connection`` is a thread-local lookup
        return [Member.from_db(alias, _MEMBER_FIELDS, row) for row in cursor.fetchall()]


def _lock_states(subscription_ids: list[str], member_ids: list[int]) -> list[SubscriptionState]:
    """The batch's subscriptions, and every subscription its members have or hold."""
    sql = (f'SELECT {columns(SubscriptionState, "s")} '  # noqa: S608
           f'FROM "{SubscriptionState._meta.db_table}" s '
           'WHERE s."subscription_id" = ANY(%s) OR s."member_id" = ANY(%s) '
           'ORDER BY s."id" FOR UPDATE')
    with connection.cursor() as cursor:
        cursor.execute(sql, [subscription_ids, member_ids])
        return [from_row(SubscriptionState, row) for row in cursor.fetchall()]


# --- The rules' reads and writes, in memory -----------------------------------------------

class BatchWrites(sync.ImmediateWrites):
    """``sync.ImmediateWrites`` for a batch: reads from the locked rows, writes gathered.

    Memberships are gathered as each member's last operation that decides them all
    (a grant, or a revoke of the held subscription) plus the revokes after none.
    """

    def __init__(self, members: list[Member], states: list[SubscriptionState]) -> None:
        self.members = {m.pk: m for m in members}
        self.by_customer = {m.stripe_customer_id: m for m in members if m.stripe_customer_id}
        self.original = {m.pk: (m.stripe_subscription_id, m.stripe_customer_id) for m in members}
        self.states = {s.subscription_id: s for s in states}
        # Each member's states, so that finding a member's other live subscription
        # does not go through the whole batch for every event that ends one.
        self.by_member: dict[int, dict[str, SubscriptionState]] = {}
        for state in states:
            self._index(state)
        self.dirty_states: dict[str, SubscriptionState] = {}
        # The order the batch will insert its new states in, as their ids will say.
        self.new_order: dict[str, int] = {}
        self.ops: dict[int, list[tuple]] = {}

    def state_of(self, subscription_id: str) -> SubscriptionState | None:
        return self.states.get(subscription_id)

    def grant(self, member: Member, subscription_id: str, price_ids: list[str]) -> list[str]:
        member.stripe_subscription_id = subscription_id
        self.ops[member.pk] = [("grant", subscription_id, list(price_ids))]
        return []

    def revoke(self, member: Member, subscription_id: str) -> list[str]:
        ops = self.ops.setdefault(member.pk, [])
        if member.stripe_subscription_id == subscription_id:
            member.stripe_subscription_id = None
            ops[:] = [("clear", None, [])]
        elif not any(op[0] in ("grant", "clear") for op in ops):
            # After a grant or clear every Stripe group is the held subscription's: nothing to do.
            ops.append(("revoke", subscription_id, []))
        return []

    def end_held(self, member: Member, ended: str) -> tuple[list[str], list[str]]:
        self.revoke(member, ended)
        other = self._other_live(member, ended)
        if other is None:
            return [], []
        return [], [f"granted the member's other live subscription {other.subscription_id}",
                     *self.grant(member, other.subscription_id, list(other.price_ids or []))]

    def _other_live(self, member: Member, ended: str) -> SubscriptionState | None:
        """As grants' revoke statement finds it: the newest other granting one."""
        pk = member.pk
        live = [s for s in self.by_member.get(pk, {}).values()
                if s.member_id == pk and not s.deleted and s.status in GRANTING_STATUSES
                and s.subscription_id != ended]  # (a state may have changed members since)
        # An unsaved row sorts after the stored ones, and after those saved before it
        # in this batch, as its id will.
        return max(live, key=lambda s: (s.last_event_created,
                                        s.pk or (1 << 62) + self.new_order[s.subscription_id]),
                   default=None)

    def held_by(self, member_id: int, subscription_id: str) -> bool:
        if member_id not in self.members:
            raise Unbatchable("a subscription held by a member outside the batch")
        return self.members[member_id].stripe_subscription_id == subscription_id

    def set_customer(self, member: Member, customer_id: str) -> None:
        member.stripe_customer_id = customer_id
        self.by_customer.setdefault(customer_id, member)

    def save_state(self, state: SubscriptionState, later: list | None) -> None:
        if state.pk is None:
            self.new_order.setdefault(state.subscription_id, len(self.new_order))
        self.states[state.subscription_id] = state
        self.dirty_states[state.subscription_id] = state
        self._index(state)

    def _index(self, state: SubscriptionState) -> None:
        if state.member_id is not None:
            self.by_member.setdefault(state.member_id, {})[state.subscription_id] = state


# --- The batch -------------------------------------------------------------------------------

def apply_batch(claimed: list[tuple[int, dict]]) -> BatchOutcome:
    """Apply claimed ``(row ID, event)`` pairs, in order, inside the caller's transaction.

    Events that need Stripe are left (with every other event of their member) in
    ``deferred``, to be applied one by one after the commit. Raises when the batch
    cannot be applied as a whole; the caller rolls it back and goes one by one.
    """
    events = claimed
    subscriptions = [event["data"]["object"] for _, event in events]
    customers = sorted({c for c in map(sync.customer_id_of, subscriptions) if c})
    by_metadata = sorted({m for m in map(sync.metadata_member_id, subscriptions) if m})
    members = _lock_members(customers, by_metadata)
    held = [m.stripe_subscription_id for m in members if m.stripe_subscription_id]
    states = _lock_states(sorted({s["id"] for s in subscriptions} | set(held)),
                          [m.pk for m in members])
    writes = BatchWrites(members, states)

    outcome = BatchOutcome()
    results: list[tuple[int, dict, sync.SyncResult]] = []
    deferred_members: set[int] = set()
    owner: dict[str, int] = {}  # subscription ID -> the member whose events wrote its state
    for pk, event in events:
        subscription = event["data"]["object"]
        customer_id = sync.customer_id_of(subscription)
        member = writes.by_customer.get(customer_id) if customer_id else None
        if member is None:
            member = writes.members.get(sync.metadata_member_id(subscription) or 0)
        if event["type"] not in WEBHOOK_EVENTS or (member and member.pk in deferred_members):
            _defer(outcome, event, member, deferred_members)
            if member is not None and customer_id:
                # Not applied here, yet it may give the member this customer: a later
                # event known by that customer alone must find them, and wait its turn.
                writes.by_customer.setdefault(customer_id, member)
            continue
        if member is not None and owner.setdefault(subscription["id"], member.pk) != member.pk:
            raise Unbatchable("one subscription, two members")
        try:
            result = sync.apply_locked(event, member, writes.state_of(subscription["id"]),
                                       writes=writes)
        except NeedsStripe:
            # Only Stripe can settle it: this member's events go one by one, after the
            # commit, and nothing of theirs is written here.
            _defer(outcome, event, member, deferred_members)
            continue
        results.append((pk, event, result))

    # A deferred member's earlier events go one by one too, and nothing of theirs is
    # written here: the one-event path applies them from the stored rows.
    order = {id(event): n for n, (_, event) in enumerate(events)}
    kept = [(pk, event, result) for pk, event, result in results
            if not (result.member is not None and result.member.pk in deferred_members)]
    outcome.deferred += [event for _, event, result in results
                         if result.member is not None and result.member.pk in deferred_members]
    outcome.deferred.sort(key=lambda event: order[id(event)])
    for sub_id, member_id in owner.items():
        if member_id in deferred_members:
            writes.dirty_states.pop(sub_id, None)
    for member_id in deferred_members:
        writes.ops.pop(member_id, None)
    _write(writes, kept, deferred_members, outcome)
    return outcome


def _defer(outcome: BatchOutcome, event: dict, member: Member | None,
           deferred_members: set[int]) -> None:
    outcome.deferred.append(event)
    if member is not None:
        deferred_members.add(member.pk)


# --- The one write ---------------------------------------------------------------------------

def _recordset(name: str, types: dict[str, str]) -> str:
    cols = ", ".join(f'"{column}" {kind}' for column, kind in types.items())
    return f"jsonb_to_recordset(%({name})s::jsonb) AS x({cols})"


def _write_sql() -> str:
    t = {
        "state": SubscriptionState._meta.db_table, "event": WebhookEvent._meta.db_table,
        "member": Member._meta.db_table, "membership": Membership._meta.db_table,
        "group": MemberGroup._meta.db_table, "intent": CheckoutIntent._meta.db_table,
    }
    state_cols = ", ".join(f'"{c}"' for c in _STATE_FIELDS)
    state_set = ", ".join(f'"{c}" = x."{c}"' for c in _STATE_FIELDS[1:])
    # Each UPDATE also names its rows' IDs as an array: the planner then reads them by
    # primary key. Joined only to a recordset (which it guesses at 100 rows), it would
    # hash the whole table, a cost growing with the event log, on every batch. The
    # DELETE names its members likewise: with a plan cached while the site was small,
    # it tested every membership against every operation of the batch.
    return f"""
WITH st_upd AS (
    UPDATE "{t['state']}" s SET {state_set}, "updated_at" = %(now)s
    FROM {_recordset("states", {"id": "bigint", **_STATE_TYPES})}
    WHERE s."id" = x."id" AND s."id" = ANY(%(state_ids)s::bigint[]) RETURNING s."id"
), st_ins AS (
    INSERT INTO "{t['state']}" ({state_cols}, "updated_at")
    SELECT {state_cols}, %(now)s FROM {_recordset("new_states", _STATE_TYPES)}
    ON CONFLICT ("subscription_id") DO NOTHING RETURNING "id"
), ops AS (
    SELECT * FROM {_recordset("ops", {"member": "bigint", "kind": "text", "sub": "text",
                                      "prices": "text[]"})}
), wanted AS (
    SELECT o.member, o.sub, g.id AS group_id FROM ops o
    JOIN "{t['group']}" g ON g."stripe_price_id" = ANY(o.prices) WHERE o.kind = 'grant'
), gone AS (
    DELETE FROM "{t['membership']}" ms USING ops o
    WHERE ms."member_id" = ANY(%(op_members)s::bigint[])
      AND ms."member_id" = o.member AND ms."source" = 'stripe' AND (
        o.kind = 'clear' OR (o.kind = 'revoke' AND ms."stripe_subscription_id" = o.sub)
        OR (o.kind = 'grant' AND NOT EXISTS (
            SELECT 1 FROM wanted w WHERE w.member = o.member AND w.group_id = ms."group_id")))
    RETURNING ms."member_id", ms."group_id"
), added AS (
    INSERT INTO "{t['membership']}" ("member_id", "group_id", "source",
                                     "stripe_subscription_id", "created_at")
    SELECT member, group_id, 'stripe', sub, %(now)s FROM wanted
    ON CONFLICT ("member_id", "group_id") DO UPDATE
        SET "stripe_subscription_id" = EXCLUDED."stripe_subscription_id"
        WHERE "{t['membership']}"."source" = 'stripe'
          AND "{t['membership']}"."stripe_subscription_id" <> EXCLUDED."stripe_subscription_id"
    RETURNING "member_id", "group_id", xmax = 0 AS inserted
), members AS (
    UPDATE "{t['member']}" m SET "stripe_subscription_id" = x.held,
                                 "stripe_customer_id" = x.customer
    FROM {_recordset("members", {"id": "bigint", "held": "text", "customer": "text"})}
    WHERE m."id" = x."id" AND m."id" = ANY(%(member_ids)s::bigint[]) RETURNING m."id"
), events AS (
    UPDATE "{t['event']}" e SET "status" = x.status, "note" = x.note, "member_id" = x.member,
        "error" = '', "processed_at" = %(now)s,
        "attempts" = e."attempts" + (e."status" = 'failed')::int
    FROM {_recordset("events", {"id": "bigint", "status": "text", "note": "text",
                                "member": "bigint"})}
    WHERE e."id" = x."id" AND e."id" = ANY(%(event_ids)s::bigint[]) RETURNING e."id"
), paid AS (
    SELECT * FROM {_recordset("paid", {"member": "bigint", "key": "text"})}
), closed AS (
    UPDATE "{t['intent']}" i SET "status" = %(closed)s, "updated_at" = %(now)s FROM paid
    WHERE i."member_id" = paid.member AND i."key" = paid.key RETURNING i."id"
)
SELECT 'new', NULL, (SELECT count(*) FROM st_ins)::text
UNION ALL
SELECT 'added', a."member_id", g."name" FROM added a
    JOIN "{t['group']}" g ON g."id" = a."group_id" WHERE a.inserted
UNION ALL
SELECT 'removed', r."member_id", g."name" FROM gone r JOIN "{t['group']}" g ON g."id" = r."group_id"
UNION ALL
SELECT 'open', i."id", NULL FROM "{t['intent']}" i
    WHERE i."member_id" IN (SELECT member FROM paid) AND i."status" = %(open)s
      AND NOT EXISTS (SELECT 1 FROM paid p WHERE p.member = i."member_id" AND p.key = i."key")
"""  # noqa: S608 (table and column names from the models)


_SQL: list[str] = []


def _state_record(state: SubscriptionState) -> dict:
    record = {name: getattr(state, name) for name in _STATE_FIELDS}
    for name in ("current_period_end", "cancel_at", "trial_end", "created"):
        if record[name] is not None:
            record[name] = record[name].isoformat()
    if state.pk:
        record["id"] = state.pk
    return record


def _write(writes: BatchWrites, kept: list, deferred_members: set[int],
           outcome: BatchOutcome) -> None:
    if not _SQL:
        _SQL.append(_write_sql())
    states = [_state_record(s) for s in writes.dirty_states.values()]
    new_states = [s for s in states if "id" not in s]
    old_states = [s for s in states if "id" in s]
    members = [
        {"id": pk, "held": m.stripe_subscription_id, "customer": m.stripe_customer_id}
        for pk, m in writes.members.items()
        if pk not in deferred_members
        and (m.stripe_subscription_id, m.stripe_customer_id) != writes.original[pk]
    ]
    ops = [{"member": pk, "kind": kind, "sub": sub, "prices": prices}
           for pk, member_ops in writes.ops.items() for kind, sub, prices in member_ops]
    event_rows, paid = [], []
    for pk, event, result in kept:
        status = WebhookEvent.Status.IGNORED if result.ignored else WebhookEvent.Status.PROCESSED
        member_id = result.member.pk if result.member else None
        event_rows.append({"id": pk, "status": status, "note": result.note,
                           "member": member_id})
        outcome.applied.append((event, status, result.note, member_id))
        if result.newly_granted:
            key = (event["data"]["object"].get("metadata") or {}).get(INTENT_METADATA) or ""
            paid.append({"member": member_id, "key": key})
    params = {
        "now": timezone.now(), "open": OPEN, "closed": CLOSED,
        "states": json.dumps(old_states), "state_ids": [s["id"] for s in old_states],
        "new_states": json.dumps(new_states), "ops": json.dumps(ops),
        "op_members": sorted(writes.ops),
        "members": json.dumps(members), "member_ids": [m["id"] for m in members],
        "events": json.dumps(event_rows), "event_ids": [e["id"] for e in event_rows],
        "paid": json.dumps(paid),
    }
    with connection.cursor() as cursor:
        cursor.execute(_SQL[0], params)
        rows = cursor.fetchall()
    open_ids = []
    for kind, member_id, value in rows:
        if kind == "new":
            if int(value) != len(new_states):
                # Another transaction stored one of these subscriptions meanwhile.
                raise Unbatchable("a new subscription state was stored meanwhile")
        elif kind == "open":
            open_ids.append(member_id)
        else:
            verb = "added to" if kind == "added" else "removed from"
            outcome.changes.setdefault(member_id, []).append(f"{verb} group {value}")
    if open_ids:
        outcome.left_open = list(CheckoutIntent.objects.filter(pk__in=open_ids))


def log_applied(outcome: BatchOutcome, started: float) -> None:
    """One line per batch; one more per event applied with a note or a member's changes.

    (Each delivery already had its line when it was received; a plain in-order
    event's outcome is in the event log.)
    """
    statuses = [status for _, status, _, _ in outcome.applied]
    logger.info(
        "webhook_batch events=%d processed=%d ignored=%d one_by_one=%d duration_ms=%d",
        len(outcome.applied), statuses.count(WebhookEvent.Status.PROCESSED),
        statuses.count(WebhookEvent.Status.IGNORED), len(outcome.deferred),
        (time.monotonic() - started) * 1000)
    last = {member_id: n for n, (_, _, _, member_id) in enumerate(outcome.applied)}
    for n, (event, status, note, member_id) in enumerate(outcome.applied):
        changes = outcome.changes.get(member_id) if last.get(member_id) == n else None
        if note or changes:
            logger.info("webhook event=%s type=%s member=%s outcome=%s note=%s changes=%s",
                        event["id"], event["type"], member_id or "-", status,
                        note or "-", "; ".join(changes or ()) or "-")
