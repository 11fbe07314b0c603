"""The load bench, small: a shuffled, duplicated burst still ends every member right.

bench/webhook_load.py's own functions, against the live stack (gunicorn, two workers,
PostgreSQL). End state only; timings are the bench's business (docs/performance.md).
"""

from __future__ import annotations

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
