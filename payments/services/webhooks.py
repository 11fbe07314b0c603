"""Verify, store and process Stripe webhook events.

Verification lives in ``signatures`` (the ``Stripe-Signature`` header, checked
against the current and, until it expires, the previous secret) and
``event_checks`` (the event's shape); ``receive`` runs both, then processes.

Storage and processing (``process_event``): each event is stored once,
unique by its ID. The row is inserted inside the same transaction that
applies the event, so two concurrent deliveries cannot both apply it: the
second insert waits on the unique index and fails once the first commits
(answered as a duplicate), or succeeds if the first rolled back. A failed
event is recorded in its own transaction after the rollback and is processed
again when Stripe retries.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DataError, IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from kuroco_billing.logging import redact

from ..models import WEBHOOK_EVENTS, StripeSettings, WebhookEvent
from . import sync
from .event_checks import parse_event
from .signatures import verify

logger = logging.getLogger("payments.webhooks")


# --- Storage and processing -----------------------------------------------------

@dataclass
class Outcome:
    """How one delivery ended: ``result`` is processed, ignored, duplicate or failed."""

    result: str
    event: WebhookEvent | None

    @property
    def http_status(self) -> int:
        return 500 if self.result == WebhookEvent.Status.FAILED else 200


class _Duplicate(Exception):
    pass


def _claim(event: dict, *, force: bool) -> WebhookEvent:
    """The event's row, inserted or locked, for this transaction to process."""
    row = WebhookEvent.objects.select_for_update().filter(event_id=event["id"]).first()
    if row is not None:
        if row.status != WebhookEvent.Status.FAILED and not force:
            raise _Duplicate
        row.attempts += 1
        return row
    row = WebhookEvent(
        event_id=event["id"],
        type=event["type"],
        created=datetime.fromtimestamp(event["created"], tz=UTC),
        livemode=bool(event.get("livemode")),
        payload=event,
        status=WebhookEvent.Status.FAILED,  # until this transaction says otherwise
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        # A concurrent delivery of the same event inserted it and committed.
        raise _Duplicate from None
    return row


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
    event: dict, *, force: bool = False, config: StripeSettings | None = None
) -> Outcome:
    """Store and apply one verified event, exactly once. ``force`` re-runs a stored one."""
    started = time.monotonic()
    outcome = _process(event, force=force, config=config or StripeSettings.load())
    row = outcome.event
    # One structured line per delivery: what, whom, how it ended, how long. No secrets.
    logger.log(
        logging.ERROR if outcome.result == WebhookEvent.Status.FAILED else logging.INFO,
        "webhook event=%s type=%s member=%s outcome=%s duration_ms=%d",
        event["id"], event["type"], (row.member_id if row else None) or "-",
        outcome.result, (time.monotonic() - started) * 1000,
    )
    return outcome


def _process(event: dict, *, force: bool, config: StripeSettings) -> Outcome:
    if not force:
        known = WebhookEvent.objects.filter(event_id=event["id"]).first()
        if known is not None and known.status != WebhookEvent.Status.FAILED:
            return Outcome("duplicate", known)
    try:
        with transaction.atomic():
            row = _claim(event, force=force)
            reason = _ignore_reason(event, config)
            if reason is None:
                result = sync.apply_event(event)
                row.member = result.member
                row.status = (WebhookEvent.Status.IGNORED if result.ignored
                              else WebhookEvent.Status.PROCESSED)
                row.error = result.note
                changes = result.changes
            else:
                row.status, row.error, changes = WebhookEvent.Status.IGNORED, reason, []
            row.processed_at = timezone.now()
            row.save()
    except _Duplicate:
        return Outcome("duplicate", WebhookEvent.objects.filter(event_id=event["id"]).first())
    except (OperationalError, InterfaceError, DataError):
        # The database itself is failing (down, locked, deadlock): recording the
        # failure would fail too, and the view answers 503. Or it refused a value
        # of the event: retrying cannot help, and the view answers 400.
        raise
    except Exception as exc:
        logger.exception("webhook_failed event=%s type=%s", event["id"], event["type"])
        return Outcome(WebhookEvent.Status.FAILED, _record_failure(event, exc))
    if changes:
        logger.info("webhook event=%s changes=%s", row.event_id, "; ".join(changes))
    return Outcome(row.status, row)


def _record_failure(event: dict, exc: Exception) -> WebhookEvent | None:
    """After the rollback: remember the failure, unless another delivery has since succeeded.

    Never raises: the delivery is answered 500 (Stripe retries) whether or not the
    failure could be stored; when it could not, that is logged.
    """
    try:
        return _store_failure(event, exc)
    except Exception:
        logger.exception("webhook_failure_not_recorded event=%s", event.get("id"))
        return None


def _store_failure(event: dict, exc: Exception) -> WebhookEvent:
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    message = redact(str(message))[:2000]
    with transaction.atomic():
        row = WebhookEvent.objects.select_for_update().filter(event_id=event["id"]).first()
        if row is None:
            row = WebhookEvent(
                event_id=event["id"], type=event["type"],
                created=datetime.fromtimestamp(event["created"], tz=UTC),
                livemode=bool(event.get("livemode")), payload=event,
                status=WebhookEvent.Status.FAILED, error=message, attempts=1,
            )
            try:
                with transaction.atomic():
                    row.save()
            except IntegrityError:
                return WebhookEvent.objects.get(event_id=event["id"])
        elif row.status == WebhookEvent.Status.FAILED:
            row.attempts += 1
            row.error = message
            row.processed_at = timezone.now()
            row.save(update_fields=["attempts", "error", "processed_at"])
        return row


def receive(body: bytes, signature_header: str | None) -> Outcome:
    """Verify a delivery and process it. Raises signatures.WebhookRejected for refusals."""
    config = StripeSettings.load()
    event = parse_event(verify(body, signature_header, config.webhook_secrets()))
    return process_event(event, config=config)  # loaded once per delivery


def reprocess_event(event: WebhookEvent) -> WebhookEvent:
    """Run a stored event again (admin action). Re-applying a processed one is harmless."""
    process_event(event.payload, force=True)
    event.refresh_from_db()
    return event
