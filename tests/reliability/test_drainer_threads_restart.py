"""The drainer threads (STRIPE_WEBHOOK_DRAIN_IN_WORKERS, the default) after a restart.

Events acknowledged before a deploy but not yet applied, and failed events whose wait
is over, are applied once the new processes serve any request (a load balancer's
health check), not only when a new delivery happens to come.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from kuroco_billing.devtools.processes import build_stack, drop_database, start_gunicorn

from .live import BASIC, MemberPool, active_subscription_event, groups_of, webhook_rows

pytestmark = pytest.mark.postgres


def store_as_a_delivery_did(stack, event: dict, status: str = "received",
                            minutes_ago: int | None = None) -> None:
    """The row a delivery stored before the restart (queued, or failed that long ago)."""
    stack.query(
        "INSERT INTO payments_webhookevent (event_id, type, created, livemode, payload, "
        "status, error, note, attempts, received_at, processed_at) VALUES (%s, %s, "
        "to_timestamp(%s), false, %s::json, %s, '', '', 1, now(), "
        "now() - make_interval(mins => %s::int))",
        [event["id"], event["type"], event["created"], json.dumps(event), status,
         minutes_ago or 0])


def test_what_a_restart_left_is_applied_once_the_new_processes_serve_a_request(
        postgres_url, process_log_dir):
    stack = build_stack(postgres_url, process_log_dir, members=3, STRIPE_WEBHOOK_QUEUE="true",
                        STRIPE_WEBHOOK_DRAIN_IN_WORKERS="true")
    try:
        pool, price = MemberPool(3), stack.layout["prices"][BASIC]
        # A deploy: gunicorn stops with an acknowledged event not yet applied (its
        # worker exited during the batch delay), and a failed event waiting for a retry.
        stack.processes.pop().stop()
        left_email, failed_email = pool.take(), pool.take()
        left = active_subscription_event(stack, left_email, price)
        store_as_a_delivery_did(stack, left)
        failed = active_subscription_event(stack, failed_email, price)
        store_as_a_delivery_did(stack, failed, status="failed", minutes_ago=10)

        server, url = start_gunicorn(stack.env, process_log_dir, workers=2,
                                     port=int(stack.url.rsplit(":", 1)[1]))
        stack.processes.append(server)
        for _ in range(4):  # the load balancer's health checks reach both workers
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200

        deadline = time.monotonic() + 10
        while {webhook_rows(stack, left["id"])[0][0],
               webhook_rows(stack, failed["id"])[0][0]} != {"processed"}:
            assert time.monotonic() < deadline, (
                webhook_rows(stack, left["id"]), webhook_rows(stack, failed["id"]))
            time.sleep(0.05)
        assert webhook_rows(stack, failed["id"]) == [("processed", 2)]
        assert groups_of(stack, left_email) == groups_of(stack, failed_email) == {
            (BASIC, "stripe")}
    finally:
        stack.stop()
        drop_database(stack.database_url)
