"""The drain's claim reads the head of the queue, however long the event log grows.

A sort or a bitmap scan would read every queued row and every dead index entry on
each claim, a cost that grows with the burst (docs/performance.md, "The session after").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from payments.models import WebhookEvent
from payments.services import inbox

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inbox")]

SETTLED, QUEUED = 3000, 200


def _events(count: int, status: str, start: int, **fields) -> list[WebhookEvent]:
    created = datetime(2026, 11, 1, tzinfo=UTC)
    return [WebhookEvent(event_id=f"evt_claim{start + n:06d}", type="customer.subscription.updated",
                         created=created, payload={"id": f"evt_claim{start + n:06d}"},
                         status=status, **fields)
            for n in range(count)]


@pytest.fixture
def long_log(db):
    """A long event log with a short queue behind it, as the planner's statistics see it."""
    WebhookEvent.objects.bulk_create(_events(SETTLED, "processed", 0))
    WebhookEvent.objects.bulk_create(_events(QUEUED, "received", SETTLED))
    long_ago = timezone.now() - timedelta(days=1)
    WebhookEvent.objects.bulk_create(_events(3, "failed", SETTLED + QUEUED,
                                             processed_at=long_ago))
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{WebhookEvent._meta.db_table}"')


def _plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def test_the_claim_is_an_ordered_index_scan_of_the_queue(long_log):
    sql, params = inbox.claim_statement(60)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        [[plan]] = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    nodes = _plan_nodes(plan["Plan"])
    kinds = {node["Node Type"] for node in nodes}

    assert not kinds & {"Sort", "Bitmap Heap Scan", "Seq Scan"}, kinds
    assert {node.get("Index Name") for node in nodes if node["Node Type"] == "Index Scan"} == {
        "webhook_event_received", "webhook_event_failed"}


def test_the_claim_takes_the_queue_in_order_and_the_failed_events_that_are_due(long_log):
    with transaction.atomic():
        claimed = inbox._claim(60)

    ids = [event["id"] for _, event in claimed]
    queued = [f"evt_claim{SETTLED + n:06d}" for n in range(60)]
    failed = [f"evt_claim{SETTLED + QUEUED + n:06d}" for n in range(3)]
    assert ids == queued + failed
