"""Verify, store and process Stripe webhook events.

Verification lives in ``signatures`` (the ``Stripe-Signature`` header, checked
against the current and, until it expires, the previous secret) and
``event_checks`` (the event's shape); ``receive`` runs both, then processes.

Storage and processing (``process_event``): each event is stored once,
unique by its ID, by the transaction that applies it (docs/billing.md,
"Webhook processing"). A failed event is recorded in its own transaction
after the rollback and is processed again when Stripe retries.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from kuroco_billing.logging import redact
from kuroco_billing.rows import db_values

from ..models import WEBHOOK_EVENTS, CheckoutIntent, StripeSettings, WebhookEvent
from . import checkout, drainers, inbox, sync
from .event_checks import parse_event
from .signatures import WebhookRejected, verify

logger = logging.getLogger("payments.webhooks")


# --- Storage and processing -----------------------------------------------------

# Stripe is asked at most this many times for one delivery (a tie, then the held
# subscription); each answer is applied under the locks in a fresh transaction.
MAX_PASSES = 4

# A stored event in one of these is not settled yet: a delivery applies it.
PENDING = (None, WebhookEvent.Status.FAILED, WebhookEvent.Status.RECEIVED)


class Outcome:
    """How one delivery ended: ``result`` is processed, ignored, duplicate or failed."""

    def __init__(self, result: str, event: WebhookEvent | None = None, *,
                 event_id: str | None = None, error: str = "") -> None:
        self.result = result
        self._event = event
        self._event_id = event_id
        self.error = error  # why it failed (safe to show), when it did

    @property
    def event(self) -> WebhookEvent | None:
        """The stored row (read on demand for a duplicate, which the hot path never reads)."""
        if self._event is None and self._event_id:
            self._event = WebhookEvent.objects.filter(event_id=self._event_id).first()
        return self._event

    @property
    def http_status(self) -> int:
        return 500 if self.result == WebhookEvent.Status.FAILED else 200


class _Duplicate(Exception):
    pass


@dataclass
class _Known:
    """What one read before any transaction knows: the settings' version, the event's status."""

    settings_version: datetime | None
    status: str | None


_KNOWN_SQL = """SELECT (SELECT "updated_at" FROM "{settings}" WHERE "id" = 1),
    (SELECT "status" FROM "{events}" WHERE "event_id" = %s)""".format(  # noqa: S608, UP032
    settings=StripeSettings._meta.db_table, events=WebhookEvent._meta.db_table)


def _known(event_id: str) -> _Known:
    with connection.cursor() as cursor:
        cursor.execute(_KNOWN_SQL, [event_id])
        version, status = cursor.fetchone()
    if version is not None:
        [version] = db_values(StripeSettings, [version],
                              [StripeSettings._meta.get_field("updated_at")])
    return _Known(version, status)


def _ignore_reason(event: dict, config: StripeSettings) -> str | None:
    expected = config.livemode
    livemode = bool(event.get("livemode"))
    if expected is not None and livemode != expected:
        return (
            f"Event is {'live' if livemode else 'test'} mode but the configured keys are "
            f"{'live' if expected else 'test'} mode."
        )
    if event["type"] not in WEBHOOK_EVENTS:
        return f"Event type {event['type']} is not handled."
    return None


def process_event(
    event: dict, *, force: bool = False, config: StripeSettings | None = None,
    known: _Known | None = None,
) -> Outcome:
    """Store and apply one verified event, exactly once. ``force`` re-runs a stored one."""
    started = time.monotonic()
    known = known or _known(event["id"])
    outcome = _process(event, force=force, config=config or StripeSettings.load(), known=known)
    row = outcome._event
    # One structured line per delivery: what, whom, how it ended, how long. No secrets.
    logger.log(
        logging.ERROR if outcome.result == WebhookEvent.Status.FAILED else logging.INFO,
        "webhook event=%s type=%s member=%s outcome=%s duration_ms=%d",
        event["id"], event["type"], (row.member_id if row else None) or "-",
        outcome.result, (time.monotonic() - started) * 1000,
    )
    return outcome


def _process(event: dict, *, force: bool, config: StripeSettings, known: _Known) -> Outcome:
    if not force and known.status not in PENDING:
        return Outcome("duplicate", event_id=event["id"])
    truth = sync.StripeTruth()
    try:
        for _ in range(MAX_PASSES):
            try:
                row, changes, left_open = _apply_and_store(event, config, known, force, truth)
            except sync.NeedsStripe as need:
                # Rolled back: ask Stripe with no transaction open, then apply again.
                truth.fetch(need)
            except sync.Retry:
                pass
            else:
                break
        else:
            raise RuntimeError(f"Still not settled after {MAX_PASSES} passes; Stripe retries.")
    except _Duplicate:
        return Outcome("duplicate", event_id=event["id"])
    except (OperationalError, InterfaceError, DataError):
        # The database itself is failing (down, locked, deadlock): recording the
        # failure would fail too; the view answers 503 and Stripe retries. Or it
        # refuses a value of the event: the view answers 400, nothing is stored.
        raise
    except Exception as exc:
        logger.exception("webhook_failed event=%s type=%s", event["id"], event["type"])
        return Outcome(WebhookEvent.Status.FAILED, record_failure(event, exc),
                       error=failure_message(exc))
    if changes:
        logger.info("webhook event=%s changes=%s", row.event_id, "; ".join(changes))
    if left_open:
        # Committed: now Stripe may be asked. Whatever fails here, the event stands.
        checkout.expire_sessions(left_open)
    return Outcome(row.status, row)


def _apply_and_store(event: dict, config: StripeSettings, known: _Known, force: bool,
                     truth: sync.StripeTruth
                     ) -> tuple[WebhookEvent, list[str], list[CheckoutIntent]]:
    """One pass: apply under the locks and store the event's row, in one transaction.

    Also returns the member's checkout sessions left open by a new grant, to be
    expired once the transaction has committed.
    """
    left_open: list[CheckoutIntent] = []
    later: list[tuple[str, list]] = []  # the state row's update, sent with the event's insert
    with transaction.atomic():
        row = WebhookEvent(
            event_id=event["id"], type=event["type"],
            created=datetime.fromtimestamp(event["created"], tz=UTC),
            livemode=bool(event.get("livemode")), payload=event,
        )
        reason = _ignore_reason(event, config)
        if reason is None:
            result = sync.apply_event(event, truth=truth, later=later)
            row.member = result.member
            row.status = (WebhookEvent.Status.IGNORED if result.ignored
                          else WebhookEvent.Status.PROCESSED)
            row.note, changes = result.note, result.changes
            if result.newly_granted:
                left_open = checkout.sessions_left_open(result.member.pk,
                                                        event["data"]["object"])
        else:
            row.status, row.note, changes = WebhookEvent.Status.IGNORED, reason, []
        row.processed_at = timezone.now()
        _store(row, stored=known.status is not None, force=force, later=later)
    return row, changes, left_open


_INSERT_SQL = None


def _insert_sql() -> tuple[str, list]:
    global _INSERT_SQL
    if _INSERT_SQL is None:
        fields = [f for f in WebhookEvent._meta.concrete_fields if not f.primary_key]
        columns = ", ".join(f'"{f.column}"' for f in fields)
        sql = """INSERT INTO "{table}" ({columns}) VALUES ({values})
            ON CONFLICT ("event_id") DO NOTHING RETURNING "id" """.format(  # noqa: S608
            table=WebhookEvent._meta.db_table, columns=columns,
            values=", ".join(["%s"] * len(fields)))
        _INSERT_SQL = (sql, fields)
    return _INSERT_SQL


def _store(row: WebhookEvent, *, stored: bool, force: bool,
           later: list[tuple[str, list]]) -> None:
    """Insert the finished row, or update the stored failed one; _Duplicate if another won.

    Inserting last keeps the transaction short; a concurrent delivery of the same
    event waits on the unique index and, once this one commits, inserts nothing.
    """
    if not stored:
        sql, fields = _insert_sql()
        params = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
        if later:
            # One round trip for both writes: the update runs whether or not the
            # insert does; if it does not, _Duplicate below rolls both back.
            [(update_sql, update_params)] = later
            sql, params = f"WITH state AS ({update_sql}) {sql}", [*update_params, *params]
            later.clear()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            inserted = cursor.fetchone()
        if inserted is not None:
            row.pk = inserted[0]
            row._state.adding = False
            return
    if later:
        with connection.cursor() as cursor:
            for update_sql, update_params in later:
                cursor.execute(update_sql, update_params)
        later.clear()
    # Stored before (failed, or being reprocessed), or inserted meanwhile by another delivery.
    stored_row = WebhookEvent.objects.select_for_update().filter(event_id=row.event_id).first()
    if stored_row is None or (stored_row.status not in PENDING and not force):
        raise _Duplicate
    # A queued event's first application is its first attempt.
    tried = 0 if stored_row.status == WebhookEvent.Status.RECEIVED else 1
    row.pk, row.attempts, row.received_at = (
        stored_row.pk, stored_row.attempts + tried, stored_row.received_at)
    row.error = ""
    row._state.adding = False
    row.claimed_until = None  # settled: no drain holds it any longer
    row.save(update_fields=["status", "note", "error", "member", "attempts", "processed_at",
                            "claimed_until"])


def record_failure(event: dict, exc: Exception) -> WebhookEvent | None:
    """After the rollback: remember the failure, unless another delivery has since succeeded.

    Never raises: the delivery is answered 500 (Stripe retries) whether or not the
    failure could be stored; when it could not, that is logged.
    """
    try:
        return _store_failure(event, exc)
    except Exception:
        logger.exception("webhook_failure_not_recorded event=%s", event.get("id"))
        return None


def failure_message(exc: Exception) -> str:
    """What a failure is recorded and shown as: the error's own words, no secret."""
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    return redact(str(message))[:2000]


def _store_failure(event: dict, exc: Exception) -> WebhookEvent:
    message = failure_message(exc)
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().filter(event_id=event["id"]).first()
        if row is None:
            row = WebhookEvent(
                event_id=event["id"], type=event["type"],
                created=datetime.fromtimestamp(event["created"], tz=UTC),
                livemode=bool(event.get("livemode")), payload=event,
                status=WebhookEvent.Status.FAILED, error=message, attempts=1,
            )
            sql, fields = _insert_sql()
            params = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                inserted = cursor.fetchone()
            if inserted is None:  # another delivery stored it meanwhile
                return WebhookEvent.objects.get(event_id=event["id"])
            row.pk = inserted[0]
        elif row.status in PENDING:
            # A queued event's first application is its first attempt.
            row.attempts += 1 if row.status == WebhookEvent.Status.FAILED else 0
            row.status = WebhookEvent.Status.FAILED
            row.error = message
            row.processed_at = timezone.now()
            row.claimed_until = None  # its wait is the retry's from now on
            row.save(update_fields=["status", "attempts", "error", "processed_at",
                                    "claimed_until"])
        return row


def _verified(body: bytes, signature_header: str | None) -> tuple[dict, StripeSettings]:
    """The event, checked with the settings of this process (read once per change).

    The settings are the process's cached object, which every caller only reads.
    """
    config = StripeSettings.cached(shared=True)
    if config is not None:
        try:
            verify(body, signature_header, config.webhook_secrets())
        except WebhookRejected:
            config = None  # perhaps a secret saved in another process: check the stored ones
    if config is None:
        config = StripeSettings.load()
        verify(body, signature_header, config.webhook_secrets())
    return parse_event(body), config


def receive(body: bytes, signature_header: str | None) -> Outcome:
    """Verify a delivery and process it (or queue it: ``STRIPE_WEBHOOK_QUEUE``).

    Raises signatures.WebhookRejected for refusals.
    """
    event, config = _verified(body, signature_header)
    if settings.STRIPE_WEBHOOK_QUEUE:
        return _queue(body, signature_header, event, config)
    known = _known(event["id"])  # the settings' version comes with the event's status
    if known.settings_version is None or config.updated_at != known.settings_version:
        # Saved since this process read them (a secret rolled or removed): verify again.
        config = StripeSettings.load_if_changed(known.settings_version)
        verify(body, signature_header, config.webhook_secrets())
    return process_event(event, config=config, known=known)


def _queue(body: bytes, signature_header: str | None, event: dict,
           config: StripeSettings) -> Outcome:
    """Store the event for the inbox's drain (services.inbox); one line per delivery."""
    started = time.monotonic()
    for _ in range(3):
        stored = inbox.enqueue(body, event, config, _ignore_reason(event, config))
        result = stored.result
        if result is None:  # stored before, or the settings were saved meanwhile
            if stored.settings_version != config.updated_at:
                # A secret rolled or removed in another process: verify again, whether
                # the event is stored already or not (a refusal changes nothing).
                config = StripeSettings.load_if_changed(stored.settings_version)
                verify(body, signature_header, config.webhook_secrets())
                continue
            if stored.status is None:
                continue  # stored and removed meanwhile: try again
            result = inbox.redelivered(event["id"], stored.status)
            if result == "queued":
                drainers.wake()
        if stored.result == "queued":
            drainers.wake()
        # The drain writes one more line when it applies the event.
        logger.info("webhook event=%s type=%s member=- outcome=%s duration_ms=%d",
                    event["id"], event["type"], result, (time.monotonic() - started) * 1000)
        return Outcome(result)
    raise RuntimeError("The Stripe settings keep changing; Stripe retries.")


def reprocess_event(event: WebhookEvent) -> tuple[WebhookEvent, str]:
    """Run a stored event again (admin action). Re-applying a processed one is harmless.

    Returns the stored row and, when this run failed, why ("" otherwise). A settled
    event that fails again keeps its stored outcome: the error is only reported.
    """
    outcome = process_event(event.payload, force=True)
    event.refresh_from_db()
    return event, outcome.error if outcome.result == WebhookEvent.Status.FAILED else ""
