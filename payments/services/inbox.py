"""The webhook inbox (``STRIPE_WEBHOOK_QUEUE``): store, answer 2xx, then apply in batches.

A delivery costs one statement; a drain applies the stored events many at a time
(``services.batch``). How it works and why: docs/billing.md, "The webhook inbox".
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils import timezone

from ..models import StripeSettings, WebhookEvent
from . import batch, checkout

logger = logging.getLogger("payments.webhooks")

RECEIVED, FAILED = WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED
# Each stored event is announced on this channel (NOTIFY, sent at its commit).
CHANNEL = "kuroco_webhook_inbox"
_EVENTS = WebhookEvent._meta.db_table

# One round trip: a server-side function (migration 0008) stores the event if it is
# new and the settings it was verified with are still the stored ones, announces it
# (NOTIFY), and else says why: the stored row's status, the settings' version.
_ENQUEUE_SQL = "SELECT * FROM kuroco_webhook_enqueue(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


# Queued again for one more attempt (as the inline path counts a resent delivery), and
# announced like a new event: a drain_webhooks process would otherwise find it only at
# its next round.
_RETRY_FAILED_SQL = f"""WITH retried AS (
    UPDATE "{_EVENTS}" SET "status" = %s, "attempts" = "attempts" + 1, "claimed_until" = NULL
    WHERE "event_id" = %s AND "status" = %s RETURNING 1
) SELECT pg_notify('{CHANNEL}', '') FROM retried"""  # noqa: S608


@dataclass
class Enqueued:
    """What storing a delivery did: ``result`` (queued, ignored) when it stored the event;
    else None, with the stored settings' version and the stored row's status."""

    result: str | None
    settings_version: datetime | None = None
    status: str | None = None


def enqueue(body: bytes, event: dict, config: StripeSettings, ignore_reason: str | None
            ) -> Enqueued:
    """Store a verified event for the drain: queued, or ignored (``ignore_reason``)."""
    now = timezone.now()
    params = [
        event["id"], event["type"], datetime.fromtimestamp(event["created"], tz=UTC),
        bool(event.get("livemode")),
        body.decode(),  # the body as sent: verified JSON, not written out again
        WebhookEvent.Status.IGNORED if ignore_reason else RECEIVED, ignore_reason or "",
        now, now if ignore_reason else None, config.updated_at,
    ]
    # One autocommit statement; inside a caller's transaction, a savepoint, so that a
    # value the database refuses does not abort the caller's transaction.
    with (transaction.atomic() if connection.in_atomic_block else nullcontext()), \
            connection.cursor() as cursor:
        cursor.execute(_ENQUEUE_SQL, params)
        stored, version, status = cursor.fetchone()
    if not stored:
        return Enqueued(None, version, status)
    if ignore_reason:
        return Enqueued(WebhookEvent.Status.IGNORED)
    return Enqueued("queued")


def redelivered(event_id: str, status: str) -> str:
    """Stripe sent a stored event again: a failed one is tried again at once."""
    if status == FAILED:
        with connection.cursor() as cursor:
            cursor.execute(_RETRY_FAILED_SQL, [RECEIVED, event_id, FAILED])
        return "queued"
    return "queued" if status == RECEIVED else "duplicate"


# --- Draining ----------------------------------------------------------------------

# Queued events, and failed ones whose wait is over: 2, 4, 8 … minutes after their
# last attempt, at most a day, for about three days (as Stripe spaces and ends its own
# retries); then the admin's "Reprocess" remains.
MAX_ATTEMPTS = 13
# The head of each status's partial index, read in order: the claim then costs the same
# for a backlog of ten or ten thousand. The statuses are written out, not parameters,
# so that a prepared statement's generic plan still matches the indexes' conditions;
# a sort or a bitmap scan would read every queued row and dead index entry each time.
# An event another drain is applying by the one-event path is left (CLAIM_SECONDS).
_CLAIM_SQL = f"""
WITH queued AS (
    SELECT "id", "payload" FROM "{_EVENTS}" WHERE "status" = '{RECEIVED}'
      AND ("claimed_until" IS NULL OR "claimed_until" < %(now)s)
    ORDER BY "id" LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), due AS (
    SELECT "id", "payload" FROM "{_EVENTS}" WHERE "status" = '{FAILED}'
      AND "attempts" < %(max_attempts)s AND ("processed_at" IS NULL OR "processed_at" < %(now)s
          - make_interval(mins => LEAST(POWER(2, "attempts"), 1440)::int))
      AND ("claimed_until" IS NULL OR "claimed_until" < %(now)s)
    ORDER BY "id" LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
SELECT "id", "payload"::text FROM queued UNION ALL SELECT "id", "payload"::text FROM due
"""  # noqa: S608


def drain(*, limit: int | None = None) -> int:
    """Apply the queued events, a batch per transaction, until none is left; how many."""
    limit = limit or settings.STRIPE_WEBHOOK_BATCH_SIZE
    done = 0
    while True:
        count = drain_batch(limit)
        done += count
        if count < limit:
            return done


def drain_batch(limit: int) -> int:
    """Claim up to ``limit`` queued events and as many due failed ones, and apply them;
    the events needing Stripe come after."""
    started = time.monotonic()
    try:
        with transaction.atomic():
            claimed = _claim(limit)
            if not claimed:
                return 0
            outcome = batch.apply_batch(claimed)
            pk_of = {id(event): pk for pk, event in claimed}
            left = [(pk_of[id(event)], event) for event in outcome.deferred]
            _keep_claimed([pk for pk, _ in left])
    except Exception as exc:
        # Rolled back (the claim wrote nothing). Each event is applied on its own
        # below: a failure is then recorded on the event that failed, retried later.
        if isinstance(exc, batch.Unbatchable):  # expected now and then: no traceback
            logger.info("webhook_batch_one_by_one reason=%s", exc)
        else:
            logger.exception("webhook_batch_failed outcome=one_by_one")
        with transaction.atomic():
            claimed = left = _claim(limit)
            _keep_claimed([pk for pk, _ in claimed])
        outcome = batch.BatchOutcome(deferred=[event for _, event in claimed])
    batch.log_applied(outcome, started)
    if outcome.left_open:
        checkout.expire_sessions(outcome.left_open)  # committed: now Stripe may be asked
    left = list(left)  # (row ID, event) in order; a copy, popped as each is settled
    try:
        while left:
            _apply_one(left[0][1])
            left.pop(0)
    finally:
        # Stopped by an error nothing recorded (the database's: a deadlock, a lost
        # connection): what it did not settle goes back to the queue for the next
        # round at once, rather than staying claimed for CLAIM_SECONDS.
        if left:
            _release([pk for pk, _ in left])
    return len(claimed)


def claim_statement(limit: int) -> tuple[str, dict]:
    """The claim's SQL and parameters: up to ``limit`` queued events, and up to
    ``limit`` failed ones that are due."""
    return _CLAIM_SQL, {"max_attempts": MAX_ATTEMPTS, "now": timezone.now(), "limit": limit}


# How long other drains leave an event handed to the one-event path: its Stripe
# calls included, with room to spare; it is released as soon as the event is settled
# (services.webhooks), and a drain that died meanwhile leaves it for this long only.
CLAIM_SECONDS = 600

_KEEP_CLAIMED_SQL = f"""UPDATE "{_EVENTS}" SET "claimed_until" = %s
    WHERE "id" = ANY(%s)"""  # noqa: S608


def _keep_claimed(pks: list[int]) -> None:
    """Before the claim's transaction commits: the events it leaves to the one-event
    path stay claimed (``claimed_until``), though their row locks are released."""
    if pks:
        with connection.cursor() as cursor:
            cursor.execute(_KEEP_CLAIMED_SQL, [timezone.now() + timedelta(seconds=CLAIM_SECONDS),
                                               pks])


def _release(pks: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_RELEASE_SQL, [pks])


_RELEASE_SQL = f"""UPDATE "{_EVENTS}" SET "claimed_until" = NULL WHERE "id" = ANY(%s)"""  # noqa: S608


def _claim(limit: int) -> list[tuple[int, dict]]:
    with connection.cursor() as cursor:
        cursor.execute(*claim_statement(limit))
        # In the order they were stored (two short lists: sorted here, not by the database).
        return [(pk, json.loads(payload)) for pk, payload in sorted(cursor.fetchall())]


def _apply_one(event: dict) -> None:
    """An event the batch left (Stripe must be asked, or the batch failed): the one-event path."""
    from .webhooks import process_event, record_failure  # that module imports this one

    try:
        process_event(event)  # records its own failures, except the database's:
    except DataError as exc:
        record_failure(event, exc)  # a value of the event the database refuses
