"""A batch's write reads only its own rows, however many members, subscriptions and
stored events there are; no statement of a batch scans the event log.

Joined to a recordset the planner guesses at 100 rows, the write hashed whole tables:
every batch cost in proportion to the event log (docs/performance.md, "Per batch").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from members.models import Member, MemberGroup, Membership
from payments.models import SubscriptionState, WebhookEvent
from payments.services import inbox
from tests.fixtures.billing import make_event, make_subscription

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inbox")]

MEMBERS, STORED, BATCH, BATCHES = 2000, 3000, 20, 8
EVENT_LOG = WebhookEvent._meta.db_table
BIG_TABLES = {Member._meta.db_table, SubscriptionState._meta.db_table, EVENT_LOG}


@pytest.fixture
def big_site(db):
    """Many members, each with a subscription, and a long event log, analyzed."""
    MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    members = Member.objects.bulk_create(
        Member(email=f"plan{n}@example.com", name=f"plan{n}", stripe_customer_id=f"cus_plan{n}",
               stripe_subscription_id=f"sub_plan{n}" if n % 2 else None)
        for n in range(MEMBERS))
    SubscriptionState.objects.bulk_create(
        SubscriptionState(subscription_id=f"sub_plan{n}", customer_id=f"cus_plan{n}",
                          member=member, status="active", price_ids=["price_silver"],
                          last_event_created=1_700_000_000)
        for n, member in enumerate(members))
    created = datetime(2026, 11, 1, tzinfo=UTC)
    WebhookEvent.objects.bulk_create(
        WebhookEvent(event_id=f"evt_plan_old{n}", type="customer.subscription.updated",
                     created=created, payload={"id": f"evt_plan_old{n}"}, status="processed")
        for n in range(STORED))
    with connection.cursor() as cursor:
        for table in BIG_TABLES:
            cursor.execute(f'ANALYZE "{table}"')


def _queue(batch: int) -> None:
    for n in range(batch * BATCH, (batch + 1) * BATCH):
        subscription = make_subscription(f"sub_plan{n}", customer=f"cus_plan{n}")
        event = make_event(subscription, created=1_700_000_100 + batch)
        WebhookEvent.objects.create(
            event_id=event["id"], type=event["type"], created=created_at(event),
            payload=event, status="received")


def created_at(event: dict) -> datetime:
    return datetime.fromtimestamp(event["created"], tz=UTC)


def _scans(plan: dict) -> list[tuple[str, str]]:
    found = [(plan["Node Type"], plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


@pytest.fixture
def plans():
    """The plans PostgreSQL runs, from auto_explain (needs a superuser, as in CI)."""
    notes: list[str] = []
    connection.ensure_connection()
    connection.connection.add_notice_handler(lambda diag: notes.append(diag.message_primary))
    with connection.cursor() as cursor:
        try:
            cursor.execute("SAVEPOINT plans; LOAD 'auto_explain'")
        except Exception:
            cursor.execute("ROLLBACK TO SAVEPOINT plans")
            pytest.skip("auto_explain cannot be loaded (not a superuser)")
        for setting in ("log_min_duration = 0", "log_format = json", "log_level = notice",
                        "log_analyze = on", "log_timing = off"):
            cursor.execute(f"SET LOCAL auto_explain.{setting}")
    return notes


def test_a_batch_writes_by_primary_key_and_never_scans_the_event_log(big_site, plans):
    # Enough batches that the statements are prepared and run with their cached plans.
    for batch in range(BATCHES):
        _queue(batch)
        plans.clear()
        assert inbox.drain_batch(BATCH) == BATCH

    statements = [json.loads(note[note.index("{"):]) for note in plans if "{" in note]
    assert any("st_upd" in s["Query Text"] for s in statements), "the write was not seen"
    whole_table = sorted({(table, " ".join(s["Query Text"].split())[:40])
                          for s in statements for kind, table in _scans(s["Plan"])
                          if kind == "Seq Scan" and table in BIG_TABLES
                          and ("st_upd" in s["Query Text"] or table == EVENT_LOG)})
    assert whole_table == []
    for n in (BATCH * BATCHES - 2, BATCH * BATCHES - 1):  # one held it already, one not
        member = Member.objects.get(stripe_customer_id=f"cus_plan{n}")
        assert member.stripe_subscription_id == f"sub_plan{n}"
        assert list(member.member_groups.values_list("name", flat=True)) == ["Gold"]


def test_a_plan_cached_while_the_site_was_small_still_reads_only_the_batchs_memberships(
        db, plans):
    # The drain's connection keeps the write's generic plan from its first batches, made
    # when the membership table was analyzed empty (as on a new site); it grows after
    # that, with no ANALYZE to make it plan again. The write's delete keeps only the
    # batch's members' memberships before it joins them to the batch's operations: it
    # no longer tests every membership against every operation.
    MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    silver = MemberGroup.objects.create(name="Silver", stripe_price_id="price_silver")
    members = Member.objects.bulk_create(
        Member(email=f"small{n}@example.com", name=f"small{n}", stripe_customer_id=f"cus_plan{n}")
        for n in range(GROWN))
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{Membership._meta.db_table}"')
    for batch in range(CACHED_BATCHES):  # enough runs for a cached generic plan
        _queue(batch)
        assert inbox.drain_batch(BATCH) == BATCH
    assert Membership.objects.count() == CACHED_BATCHES * BATCH
    Membership.objects.bulk_create(
        Membership(member=member, group=silver, source=Membership.Source.STRIPE,
                   stripe_subscription_id=f"sub_plan{n}")
        for n, member in enumerate(members) if n >= (CACHED_BATCHES + 1) * BATCH)

    _queue(CACHED_BATCHES)
    plans.clear()
    assert inbox.drain_batch(BATCH) == BATCH

    statements = [json.loads(note[note.index("{"):]) for note in plans if "{" in note]
    write = next(s for s in statements if "st_upd" in s["Query Text"])
    read = [node["Actual Rows"] * node["Actual Loops"] for node in _nodes(write["Plan"])
            if node.get("Relation Name") == Membership._meta.db_table
            and "Scan" in node["Node Type"]]
    assert read and max(read) <= BATCH  # was every membership (2,980 rows)
    n = CACHED_BATCHES * BATCH
    assert list(Member.objects.get(stripe_customer_id=f"cus_plan{n}")
                .member_groups.values_list("name", flat=True)) == ["Gold"]


GROWN, CACHED_BATCHES = 3000, 12


def _nodes(plan: dict) -> list[dict]:
    return [plan] + [node for child in plan.get("Plans", []) for node in _nodes(child)]
