"""Process Stripe subscription events that never reached the webhook."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from payments import gateway
from payments.models import WEBHOOK_EVENTS, WebhookEvent
from payments.services import webhooks


def parse_since(value: str) -> int:
    """Unix seconds from ``1700000000`` or an ISO 8601 time (UTC when no offset)."""
    value = value.strip()
    if value.isascii() and value.isdigit():  # ("²" is a digit to isdigit(), not to int())
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"--since {value!r} is neither unix seconds nor an ISO 8601 time."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class Command(BaseCommand):
    help = (
        "List Stripe's customer.subscription.* events since a time and process, oldest "
        "first, those not stored yet (or stored as failed). Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True,
                            help="ISO 8601 time or unix seconds, e.g. 2025-01-31T00:00:00Z")

    def handle(self, *args, since: str, **options) -> None:
        created_gte = parse_since(since)
        try:
            events = gateway.list_events(created_gte=created_gte, types=list(WEBHOOK_EVENTS))
        except gateway.StripeError as exc:
            raise CommandError(f"Could not list events: {exc.message}") from None
        events = [e for e in events if e.get("type") in WEBHOOK_EVENTS]
        events.sort(key=lambda e: (e.get("created") or 0, e["id"]))
        done = set(
            WebhookEvent.objects.filter(event_id__in=[e["id"] for e in events])
            .exclude(status=WebhookEvent.Status.FAILED)
            .values_list("event_id", flat=True)
        )
        counts = {"processed": 0, "ignored": 0, "failed": 0, "duplicate": 0}
        for event in events:
            if event["id"] in done:
                continue
            outcome = webhooks.process_event(event)
            counts[str(outcome.result)] = counts.get(str(outcome.result), 0) + 1
            self.stdout.write(f"{event['id']} {event['type']}: {outcome.result}")
        self.stdout.write(
            f"{len(events)} event(s) listed, {len(done)} already stored; "
            + ", ".join(f"{n} {name}" for name, n in counts.items())
        )
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} event(s) failed; see the webhook event log.")
