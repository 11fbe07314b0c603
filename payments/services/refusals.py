"""Refused webhook deliveries, counted per minute, reason and client address.

One upsert per refusal; the body and headers are never kept (docs/operations.md).
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
from contextlib import nullcontext

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ..models import RefusedDelivery

logger = logging.getLogger("payments.webhooks")

RETENTION = datetime.timedelta(days=14)
PRUNE_EVERY_SECONDS = 600
# Distinct (reason, address) rows one process adds per minute; past it, the
# address is written as OTHER_ADDRESSES, so many senders cannot add rows faster.
MAX_ROWS_PER_MINUTE = 50
OTHER_ADDRESSES = "other addresses"
UNKNOWN_ADDRESS = "unknown"
# Stripe puts the event's own ID first; a sender's junk further in is not read.
EVENT_ID_RE = re.compile(rb'"id"\s*:\s*"(evt_[A-Za-z0-9_]{1,200})"')
EVENT_ID_SCAN_BYTES = 2048

_TABLE = RefusedDelivery._meta.db_table
_UPSERT_SQL = f"""
INSERT INTO "{_TABLE}" ("minute", "reason", "client_address", "count", "first_at", "last_at",
                        "event_id")
VALUES (%s, %s, %s, 1, %s, %s, %s)
ON CONFLICT ("minute", "reason", "client_address") DO UPDATE SET
    "count" = "{_TABLE}"."count" + 1,
    "last_at" = excluded."last_at",
    "event_id" = CASE WHEN excluded."event_id" = '' THEN "{_TABLE}"."event_id"
                      ELSE excluded."event_id" END
"""  # noqa: S608 (the table name is ours)


class _MinuteKeys:
    """The (reason, address) keys this process wrote in the current minute."""

    def __init__(self) -> None:
        self.minute: datetime.datetime | None = None
        self.keys: set[tuple[str, str]] = set()
        self.lock = threading.Lock()

    def address_for(self, minute: datetime.datetime, reason: str, address: str) -> str:
        with self.lock:
            if minute != self.minute:
                self.minute, self.keys = minute, set()
            if (reason, address) in self.keys or len(self.keys) < MAX_ROWS_PER_MINUTE:
                self.keys.add((reason, address))
                return address
            self.keys.add((reason, OTHER_ADDRESSES))
            return OTHER_ADDRESSES


_minute_keys = _MinuteKeys()
_last_prune: float | None = None


def event_id_from(body: bytes) -> str:
    """The event ID at the start of ``body`` when one can be read; never raises."""
    match = EVENT_ID_RE.search(body[:EVENT_ID_SCAN_BYTES])
    return match.group(1).decode("ascii") if match else ""


def record_refusal(reason: str, address: str | None, body: bytes = b"",
                   now: datetime.datetime | None = None) -> None:
    """Count one refused delivery; a database failure is logged, never raised."""
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0)
    reason = reason[:200]
    address = _minute_keys.address_for(minute, reason, (address or UNKNOWN_ADDRESS)[:64])
    ops = connection.ops
    params = [ops.adapt_datetimefield_value(minute), reason, address,
              ops.adapt_datetimefield_value(now), ops.adapt_datetimefield_value(now),
              event_id_from(body)]
    try:
        with _savepoint_if_in_transaction(), connection.cursor() as cursor:
            cursor.execute(_UPSERT_SQL, params)
        _prune_now_and_then(now)
    except DatabaseError:
        logger.warning("webhook_refusal_not_recorded", exc_info=True)


def _savepoint_if_in_transaction():
    """Inside a caller's transaction, a savepoint keeps a failure from breaking it.

    (The blocks a test case wraps around each test are not a caller's.)
    """
    if any(not block._from_testcase for block in connection.atomic_blocks):
        return transaction.atomic(savepoint=True)
    return nullcontext()


def retention() -> datetime.timedelta:
    days = getattr(settings, "REFUSED_DELIVERY_RETENTION_DAYS", None)
    return datetime.timedelta(days=days) if days is not None else RETENTION


def prune(now: datetime.datetime | None = None) -> int:
    """Delete the counts older than the retention; the number of rows deleted."""
    cutoff = (now or timezone.now()) - retention()
    deleted, _ = RefusedDelivery.objects.filter(minute__lt=cutoff).delete()
    return deleted


def _prune_now_and_then(now: datetime.datetime) -> None:
    global _last_prune
    if _last_prune is not None and time.monotonic() - _last_prune < PRUNE_EVERY_SECONDS:
        return
    _last_prune = time.monotonic()
    prune(now)
