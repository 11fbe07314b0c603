"""The load bench, small: a shuffled, duplicated burst still ends every member right.

bench/webhook_load.py's own functions, against the live stack (gunicorn, two workers,
PostgreSQL). End state only; timings are the bench's business (docs/performance.md).
"""

from __future__ import annotations

import time

import pytest

from bench.webhook_load import build_plan, event_rows, mismatches, seed, send

pytestmark = pytest.mark.postgres


def test_shuffled_duplicated_burst_ends_in_the_newest_state(live_stack):
    run = "ci"
    seed(live_stack.env, run, 30, configure_stripe=False)
    plan = build_plan(run, members=30, events=240, duplicates=0.2, seed=7)
    # Some members end unsubscribed, some subscribed: the check is not one-sided.
    assert {held is None for held, _ in plan.expected.values()} == {True, False}

    stats = send(live_stack.webhook_url, plan.deliveries, live_stack.webhook_secret, threads=6)

    assert stats.gave_up == 0, stats.by_status
    assert mismatches(live_stack.database_url, plan) == []
    assert event_rows(live_stack.database_url, plan) == plan.unique_events


def test_the_bench_counts_every_statement_a_session_sends(postgres_url):
    """BEGIN, COMMIT and SAVEPOINTs included, only the counted database's (bench/counters.py)."""
    import psycopg

    from bench.counters import StatementLog
    from kuroco_billing.devtools.processes import (
        create_database,
        drop_database,
        libpq_url,
    )

    database_url = create_database(postgres_url, prefix="kuroco_billing_counters")
    try:
        admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
        log, why = StatementLog.locate(admin_url, database_url.rsplit("/", 1)[1])
        if log is None:
            pytest.skip(f"PostgreSQL's log cannot be read here: {why}")
        log.enable()
        start = log.mark()
        with psycopg.connect(libpq_url(database_url)) as conn:  # not autocommit: BEGIN
            conn.execute("SELECT 1")
            conn.execute("SAVEPOINT s1")
            conn.execute("SELECT %s::int", [2])  # extended protocol: "execute <unnamed>"
            conn.execute("RELEASE SAVEPOINT s1")
            conn.commit()
        with psycopg.connect(libpq_url(admin_url), autocommit=True) as other:
            other.execute("SELECT 1")  # another database: not counted
        time.sleep(0.3)
        assert log.count(start, log.mark()) == 6  # BEGIN, 4 statements, COMMIT
    finally:
        drop_database(database_url)


def test_the_bench_end_to_end_with_the_inbox(postgres_url):
    """`make bench`'s own run, small: the inbox target is timed until the last event is
    applied by its drain_webhooks process, and every member ends right."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "bench/webhook_load.py", "--events", "300", "--members", "40",
         "--shuffle", "--duplicates", "0.2", "--no-replay", "--database-url", postgres_url],
        cwd=root, capture_output=True, text=True, timeout=600, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "RESULT OK" in out and "members in wrong state 0" in out
    project = next(line for line in out.splitlines() if line.startswith("project "))
    assert "queued" in project  # answered from the inbox
    assert "from the inbox (STRIPE_WEBHOOK_QUEUE)" in out and "batches of" in out
    # The stream went to the targets in 4 turns (--rounds): one ratio per turn.
    slices = next(line for line in out.splitlines() if line.startswith("events/s slice by"))
    assert len(slices.split(" in order ")[1].split()) == 4
    # CPU per event by process: the drain_webhooks process applied the project's events.
    cpu = out[out.index("CPU ms/event"):].splitlines()
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in cpu[1:3]}
    kinds = cpu[0].split()[2:]
    assert kinds == ["client", "app", "drainer", "postgres", "total"]
    drainer = kinds.index("drainer")
    assert rows["project"][drainer] > 0
    # The drain process lives through the floor's turns too: a stray wake of it (its
    # timer, the collector) under a loaded host may land there, a few milliseconds in
    # all; its batches never do.
    assert rows["floor"][drainer] <= 0.3 * rows["project"][drainer]
    for values in rows.values():
        assert values[-1] == pytest.approx(sum(values[:-1]), abs=0.02)


def test_the_bench_charges_cpu_to_the_process_that_used_it():
    from bench.counters import cpu_seconds

    before = cpu_seconds()
    busy_until = time.process_time() + 0.3
    while time.process_time() < busy_until:
        pass
    after = cpu_seconds()

    assert after["client"] - before["client"] >= 0.25
