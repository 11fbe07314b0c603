"""Injected faults, seen through the SDK."""

from __future__ import annotations

import time

import pytest
import requests
import stripe


def fault(emulator, **data):
    response = requests.post(f"{emulator.url}/_emulator/faults", data=data)
    assert response.status_code == 200, response.text


def test_500_then_recovers(stripe_client, emulator):
    fault(emulator, path="/v1/customers", mode="500", count=1)
    with pytest.raises(stripe.APIError) as info:
        stripe_client.v1.customers.create(params={})
    assert info.value.http_status == 500
    assert stripe_client.v1.customers.create(params={}).id.startswith("cus_")


def test_429_only_for_the_method_asked(stripe_client, emulator):
    fault(emulator, path="/v1/customers", method="POST", mode="429", count=2)
    assert stripe_client.v1.customers.list().object == "list"
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError):
            stripe_client.v1.customers.create(params={})
    stripe_client.v1.customers.create(params={})


def test_hang_times_out_the_client(emulator):
    fault(emulator, path="/v1/checkout/sessions", mode="hang", seconds=3)
    client = stripe.StripeClient(emulator.secret_key, base_addresses={"api": emulator.url},
                                 max_network_retries=0,
                                 http_client=stripe.RequestsClient(timeout=0.5))
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.list()
    assert time.monotonic() - started < 2.5


def test_drop_closes_the_connection(stripe_client, emulator):
    fault(emulator, path="/v1/account", mode="drop")
    with pytest.raises(stripe.APIConnectionError):
        stripe_client.v1.accounts.retrieve_current()
    assert stripe_client.v1.accounts.retrieve_current().object == "account"


def test_clear_faults(stripe_client, emulator):
    fault(emulator, path="/v1/", mode="500", count=5)
    assert requests.delete(f"{emulator.url}/_emulator/faults").json() == {"faults": []}
    stripe_client.v1.customers.list()
    bad = requests.post(f"{emulator.url}/_emulator/faults", data={"path": "/v1", "mode": "x"})
    assert bad.status_code == 400
