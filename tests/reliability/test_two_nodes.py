"""Two app nodes on one PostgreSQL: a stream split between them ends every member right.

Two gunicorn masters on different ports, as behind a load balancer (docs/performance.md).
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.webhook_load import (
    build_plan,
    event_rows,
    mismatches,
    seed,
    send,
    wait_until_drained,
)
from kuroco_billing.devtools.processes import PYTHON, Process
from tests.fixtures.processes import (
    app_env,
    create_database,
    drop_database,
    free_port,
    manage,
    start_gunicorn,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["inline", "inbox"])
def two_nodes(request, postgres_url, process_log_dir):
    """Two gunicorn masters on one fresh, migrated database, with Stripe configured.

    ``inbox``: the webhook inbox on; node 1's workers drain in threads, node 2's do not
    and a drain_webhooks process drains beside them: three kinds of drain at once.
    """
    database_url = create_database(postgres_url)
    secret = "whsec_nodes" + os.urandom(8).hex()
    inbox = request.param == "inbox"
    env = app_env(database_url, "http://127.0.0.1:9", CONN_MAX_AGE="60",
                  STRIPE_WEBHOOK_QUEUE=str(inbox).lower())
    processes = []
    try:
        manage(env, "migrate", "--noinput")
        seed(env, "nodes", 30, secret=secret)
        urls = []
        for node in range(2):
            node_env = {**env, "STRIPE_WEBHOOK_DRAIN_IN_WORKERS": str(node == 0).lower()}
            server, url = start_gunicorn(node_env, process_log_dir, workers=2,
                                         port=free_port())
            processes.append(server)
            urls.append(url)
        if inbox:
            processes.append(Process(
                "drainer", [PYTHON, "manage.py", "drain_webhooks", "--forever"],
                {**env, "STRIPE_WEBHOOK_DRAIN_IN_WORKERS": "false"},
                process_log_dir / "nodes-drainer.log").start())
        yield database_url, urls, secret, inbox
    finally:
        for process in processes:
            process.stop()
        drop_database(database_url)


def test_a_stream_split_between_two_nodes_ends_every_member_right(two_nodes):
    database_url, urls, secret, inbox = two_nodes
    plan = build_plan("nodes", members=30, events=300, duplicates=0.3, seed=11)
    assert {held is None for held, _ in plan.expected.values()} == {True, False}
    rng = random.Random(11)
    shares: list[list[dict]] = [[], []]
    for event in plan.deliveries:  # a duplicate may well go to the other node
        shares[rng.randrange(2)].append(event)
    assert all(shares)

    with ThreadPoolExecutor(max_workers=2) as pool:
        stats = list(pool.map(
            lambda pair: send(f"{pair[0]}/direct/stripe/webhook/", pair[1], secret, threads=4),
            zip(urls, shares, strict=True)))

    assert [s.gave_up for s in stats] == [0, 0], [s.by_status for s in stats]
    assert all(s.sent >= len(share) for s, share in zip(stats, shares, strict=True))
    if inbox:
        wait_until_drained(database_url, timeout=60)  # answered first, applied after
    assert mismatches(database_url, plan) == []
    assert event_rows(database_url, plan) == plan.unique_events
