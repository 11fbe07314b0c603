"""Persistence across restarts, the CLI, concurrency, and the field sets of fixtures3.json."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import stripe

from stripe_emulator.keys import DEFAULT_SECRET_KEY
from stripe_emulator.testing import start_in_thread

from . import fidelity
from .helpers import subscribe

REPO = Path(__file__).resolve().parents[2]


def client_for(handle):
    return stripe.StripeClient(handle.secret_key, base_addresses={"api": handle.url},
                               max_network_retries=0)


def test_state_survives_restart(tmp_path):
    state = tmp_path / "state.json"
    with start_in_thread(state_path=state) as first:
        client = client_for(first)
        customer = client.v1.customers.create(params={"email": "keep@example.com"})
        _session, sub = subscribe(client)
        first.advance(3600)
        clock = first.now()
    assert json.loads(state.read_text())["objects"]["customer"]
    with start_in_thread(state_path=state) as second:
        client = client_for(second)
        assert client.v1.customers.retrieve(customer.id).email == "keep@example.com"
        assert client.v1.subscriptions.retrieve(sub.id).status == "active"
        assert second.now() >= clock
    assert not list(tmp_path.glob(".emulator-*.tmp"))  # atomic writes leave no temp files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_starts_and_answers(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stripe_emulator", "--port", str(port), "--state",
         str(tmp_path / "cli.json")], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/v1/account",
                                        headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"},
                                        timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the CLI did not start"
                time.sleep(0.1)
        assert response.status_code == 200 and response.json()["object"] == "account"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (tmp_path / "cli.json").exists()


def test_twenty_threads_create_distinct_customers(stripe_client):
    ids: list[str] = []
    barrier = threading.Barrier(20)

    def create() -> None:
        barrier.wait()
        ids.append(stripe_client.v1.customers.create(params={}).id)

    threads = [threading.Thread(target=create) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 20
    assert len(stripe_client.v1.customers.list(params={"limit": 100}).data) == 20


@pytest.fixture(scope="module")
def reference():
    """Each object's top-level fields in Stripe's schema for 2026-10-28.endive:
    (required, allowed). The older ``fixtures3.json`` predates that version."""
    fidelity.require_schema()
    schema = json.loads(fidelity.SCHEMA_FILE.read_text())
    fields = {}
    for name, root in fidelity.ROOTS.items():
        definition = schema["definitions"][schema["roots"][root]["$ref"].split("/")[-1]]
        fields[name] = (set(definition["required"]), set(definition["properties"]))
    return fields


def test_objects_carry_stripes_fields(stripe_client, emulator, reference):
    endpoint = stripe_client.v1.webhook_endpoints.create(params={
        "url": "http://127.0.0.1:9/x", "enabled_events": ["*"]})
    session, sub = subscribe(stripe_client)
    price = stripe_client.v1.prices.retrieve(sub["items"].data[0].price.id)
    ours = {
        "customer": stripe_client.v1.customers.retrieve(sub.customer),
        "product": stripe_client.v1.products.retrieve(price.product),
        "price": price,
        "checkout.session": session,
        "subscription": sub,
        "subscription_item": sub["items"].data[0],
        "invoice": stripe_client.v1.invoices.retrieve(sub.latest_invoice),
        "event": stripe_client.v1.events.list().data[0],
        "webhook_endpoint": stripe_client.v1.webhook_endpoints.retrieve(endpoint.id),
        "account": stripe_client.v1.accounts.retrieve_current(),
        "balance": stripe_client.v1.balance.retrieve(),
    }
    for name, obj in ours.items():
        required, allowed = reference[name]
        assert required <= set(obj.to_dict()) <= allowed, name
    # API version 2026-10-28.endive: periods are on the items, not the subscription.
    assert "current_period_end" not in sub.to_dict()
