"""The webhook inbox under gunicorn: answered at once, applied by a drain_webhooks process.

The stack runs with ``STRIPE_WEBHOOK_QUEUE`` on and the drainer threads off, so a
``manage.py drain_webhooks --forever`` process is the only one applying events: it
must wake on each delivery (LISTEN/NOTIFY), not on its 30-second timer, and settle
races and same-second ties (a Stripe fetch) as the one-event path does.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from kuroco_billing.devtools.processes import PYTHON, Process, build_stack, drop_database
from tests.fixtures.billing import heal_sql, refuse_state_sql
from tests.fixtures.processes import make_event

from .live import (
    BASIC,
    CREATED,
    DELETED,
    PREMIUM,
    UPDATED,
    MemberPool,
    active_subscription_event,
    all_at_once,
    groups_of,
    member_row,
    posted_at_once,
    real_lifecycle,
    set_emulator_deliveries,
    subscription_state,
    webhook_rows,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def queued_stack(postgres_url: str, process_log_dir) -> Iterator:
    stack = build_stack(postgres_url, process_log_dir, STRIPE_WEBHOOK_QUEUE="true",
                        STRIPE_WEBHOOK_DRAIN_IN_WORKERS="false")
    try:
        drainer = Process("drainer", [PYTHON, "manage.py", "drain_webhooks", "--forever"],
                          stack.env, process_log_dir / "drainer.log").start()
        stack.processes.append(drainer)
        yield stack
    finally:
        stack.stop()
        drop_database(stack.database_url)


@pytest.fixture(scope="module")
def pool(queued_stack) -> MemberPool:
    return MemberPool(40)


@pytest.fixture
def quiet_emulator(queued_stack):
    set_emulator_deliveries(queued_stack, False)
    yield
    set_emulator_deliveries(queued_stack, True)


def applied(stack, event_ids: list[str], timeout: float = 10) -> float:
    """Seconds until none of the events is still waiting in the inbox."""
    started = time.monotonic()
    while stack.scalar("SELECT count(*) FROM payments_webhookevent WHERE event_id = ANY(%s) "
                       "AND status = 'received'", [event_ids]):
        if time.monotonic() - started > timeout:
            pytest.fail(f"not applied within {timeout} s: {event_ids}")
        time.sleep(0.02)
    return time.monotonic() - started


def test_the_drain_process_sets_its_start_up_heap_aside_once(queued_stack):
    drainer = queued_stack.processes[-1]
    drainer.wait_until(lambda: "webhook_drain_started" in drainer.log(), "started")
    started = [line for line in drainer.log().splitlines() if "webhook_drain_started" in line]
    assert len(started) == 1
    frozen = int(started[0].split("frozen_objects=")[1].split()[0])
    assert frozen > 10_000  # Django and the app, out of the collector's full passes


def test_one_event_posted_20_times_at_once_is_stored_once_and_applied_once(
        queued_stack, pool):
    stack = queued_stack
    email = pool.take()
    event = active_subscription_event(stack, email, stack.layout["prices"][BASIC])
    subscription = event["data"]["object"]

    statuses = posted_at_once(stack, event)

    # One delivery stored it; the others found it stored (queued, or already applied).
    assert statuses.count("queued") >= 1 and set(statuses) <= {"queued", "duplicate"}
    # Woken by the delivery, not by the drainer's 30-second timer.
    assert applied(stack, [event["id"]]) < 5
    assert webhook_rows(stack, event["id"]) == [("processed", 1)]
    assert member_row(stack, email).subscription_id == subscription["id"]
    assert groups_of(stack, email) == {(BASIC, "stripe")}


ORDERS = [(order, concurrently, tie)
          for order in itertools.permutations((CREATED, UPDATED, DELETED))
          for concurrently, tie in ((True, False), (False, True))]


@pytest.mark.parametrize(("order", "concurrently", "tie"), ORDERS)
def test_any_order_ends_deleted_and_ties_ask_stripe(queued_stack, pool, quiet_emulator,
                                                     order, concurrently, tie):
    stack = queued_stack
    email = pool.take()
    snapshots = real_lifecycle(stack, email, stack.layout["prices"], delete=True)
    base = int(time.time()) - 60
    created_at = {CREATED: base, UPDATED: base if tie else base + 1,
                  DELETED: base if tie else base + 2}
    events = [make_event(t, snapshots[t], created=created_at[t]) for t in order]

    if concurrently:
        answers = all_at_once([lambda e=e: stack.post_event(e) for e in events])
    else:
        answers = [stack.post_event(e) for e in events]

    assert [a.json()["status"] for a in answers] == ["queued"] * 3
    applied(stack, [e["id"] for e in events])
    assert member_row(stack, email).subscription_id is None
    assert groups_of(stack, email) == set()
    assert subscription_state(stack, snapshots[CREATED]["id"])[1] is True  # deleted for good
    for event in events:
        assert webhook_rows(stack, event["id"])[0][0] == "processed"
    if tie and DELETED not in order[:2]:
        # The second event tied with the first: the drain left it to the one-event
        # path, which asked Stripe (outside any transaction).
        note = stack.scalar("SELECT note FROM payments_webhookevent WHERE event_id = %s",
                            [events[1]["id"]])
        assert "fetched from stripe" in note.lower(), note


def test_an_upgrade_before_its_creation_ends_on_the_new_price(queued_stack, pool,
                                                              quiet_emulator):
    stack = queued_stack
    email = pool.take()
    snapshots = real_lifecycle(stack, email, stack.layout["prices"], delete=False)
    base = int(time.time()) - 60
    events = [make_event(UPDATED, snapshots[UPDATED], created=base + 1),
              make_event(CREATED, snapshots[CREATED], created=base)]

    for event in events:
        stack.post_event(event)

    applied(stack, [e["id"] for e in events])
    assert member_row(stack, email).subscription_id == snapshots[CREATED]["id"]
    assert groups_of(stack, email) == {(PREMIUM, "stripe")}


def test_the_drain_outlives_the_database_going_away(queued_stack, pool):
    """Every connection to the database is cut (a restart, a failover): the drain process
    connects again by itself, and what arrives afterwards is applied."""
    stack = queued_stack
    stack.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    email = pool.take()
    event = active_subscription_event(stack, email, stack.layout["prices"][BASIC])

    # A worker whose connection was cut answers 503 once (Stripe retries); then 200.
    deadline = time.monotonic() + 20
    while (answer := stack.post_event(event)).status_code != 200:
        assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
        time.sleep(0.2)

    applied(stack, [event["id"]], timeout=20)
    assert groups_of(stack, email) == {(BASIC, "stripe")}
    assert "webhook_drain_database_unavailable" in (
        stack.log_dir / "drainer.log").read_text(errors="replace")


def test_stripe_sending_a_failed_event_again_wakes_the_drain_at_once(queued_stack, pool):
    """A failed event is tried again when Stripe resends it: the drain process is told
    (NOTIFY), not left to find it on its 30-second timer."""
    stack = queued_stack
    email = pool.take()
    event = active_subscription_event(stack, email, stack.layout["prices"][BASIC])
    refused = event["data"]["object"]["id"]
    stack.query(refuse_state_sql(refused))  # a real failure of applying it
    try:
        assert stack.post_event(event).json()["status"] == "queued"
        applied(stack, [event["id"]])
        assert webhook_rows(stack, event["id"]) == [("failed", 1)]
    finally:
        stack.query(heal_sql())

    assert stack.post_event(event).json()["status"] == "queued"

    assert applied(stack, [event["id"]]) < 5
    assert webhook_rows(stack, event["id"]) == [("processed", 2)]
    assert groups_of(stack, email) == {(BASIC, "stripe")}
