"""Signed webhook delivery: signatures, retries, ordering, chaos, the deliveries log."""

from __future__ import annotations

import time

import pytest
import requests
import stripe

from stripe_emulator.testing import start_in_thread
from tests.fixtures.emulator import FAST_WEBHOOKS

from .helpers import Receiver, monthly_price, pay, subscribe, subscription_session


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def add_endpoint(client, url, events=("*",)):
    return client.v1.webhook_endpoints.create(params={"url": url,
                                                      "enabled_events": list(events)})


def test_events_are_signed_and_verifiable(stripe_client, emulator, receiver):
    endpoint = add_endpoint(stripe_client, receiver.url)
    customer = stripe_client.v1.customers.create(params={"email": "hook@example.com"})
    assert emulator.drain() == 0
    [delivery] = receiver.received
    headers = delivery["headers"]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    event = stripe.Webhook.construct_event(delivery["body"], headers["Stripe-Signature"],
                                           endpoint.secret)
    assert event.type == "customer.created" and event.data.object.id == customer.id
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery["body"], headers["Stripe-Signature"],
                                       "whsec_wrong")
    # pending_webhooks drops to 0 once delivered.
    assert stripe_client.v1.events.retrieve(event.id).pending_webhooks == 0


def test_signature_uses_wall_clock_after_advance(stripe_client, emulator, receiver):
    endpoint = add_endpoint(stripe_client, receiver.url)
    emulator.advance(90 * 86400)
    stripe_client.v1.customers.create(params={})
    emulator.drain()
    delivery = receiver.received[0]
    t = int(delivery["headers"]["Stripe-Signature"].split(",")[0][2:])
    assert abs(t - time.time()) < 60
    stripe.Webhook.construct_event(delivery["body"], delivery["headers"]["Stripe-Signature"],
                                   endpoint.secret, tolerance=300)


def test_only_matching_enabled_endpoints_receive(stripe_client, emulator, receiver):
    other = Receiver()
    try:
        add_endpoint(stripe_client, receiver.url, ["invoice.paid"])
        disabled = add_endpoint(stripe_client, other.url)
        stripe_client.v1.webhook_endpoints.update(disabled.id, params={"disabled": True})
        subscribe(stripe_client)
        emulator.drain()
        assert [e["type"] for e in receiver.events()] == ["invoice.paid"]
        assert other.received == []
    finally:
        other.close()


def test_full_checkout_flow_arrives_in_order(stripe_client, emulator, receiver):
    add_endpoint(stripe_client, receiver.url)
    subscribe(stripe_client)
    emulator.drain()
    types = [e["type"] for e in receiver.events()]
    assert types == ["product.created", "price.created", "customer.created",
                     "invoice.created", "invoice.paid", "invoice.payment_succeeded",
                     "customer.subscription.created", "checkout.session.completed"]


def test_retries_after_500_then_200(stripe_client, emulator):
    receiver = Receiver(statuses=[500, 500])
    try:
        endpoint = add_endpoint(stripe_client, receiver.url)
        stripe_client.v1.customers.create(params={})
        stripe_client.v1.customers.create(params={})
        assert emulator.drain() == 0
        assert [r["status"] for r in receiver.received] == [500, 500, 200, 200]
        first, second = (e["id"] for e in receiver.events())
        log = requests.get(f"{emulator.url}/_emulator/deliveries",
                           params={"endpoint": endpoint.id}).json()["data"]
        assert [(d["event"], d["attempt"], d["status"]) for d in log] == [
            (first, 1, 500), (first, 2, 500), (first, 3, 200), (second, 1, 200)]
        page = requests.get(f"{emulator.url}/webhooks/{endpoint.id}").text
        assert '<span class="bad">500</span>' in page
    finally:
        receiver.close()


def test_refused_connection_gives_up_after_max_attempts(stripe_client, emulator):
    endpoint = add_endpoint(stripe_client, "http://127.0.0.1:9/refused")
    stripe_client.v1.customers.create(params={})
    assert emulator.drain() == 0
    log = requests.get(f"{emulator.url}/_emulator/deliveries").json()["data"]
    assert [d["attempt"] for d in log] == [1, 2, 3, 4]  # the fixture's webhook_max_attempts
    assert all(d["status"] is None and "connection" in d["error"] for d in log)
    assert log[0]["endpoint"] == endpoint.id
    event = stripe_client.v1.events.list().data[0]
    assert event.pending_webhooks == 0


def test_api_calls_do_not_wait_for_slow_endpoints(stripe_client, emulator):
    add_endpoint(stripe_client, "http://127.0.0.1:9/refused")
    started = time.monotonic()
    for _ in range(3):
        stripe_client.v1.customers.create(params={})
    assert time.monotonic() - started < 1.0
    assert requests.post(f"{emulator.url}/_emulator/drain", data={"timeout": 10}).json() == {
        "pending": 0}


def test_chaos_sends_each_event_twice(stripe_client, emulator, receiver):
    endpoint = add_endpoint(stripe_client, receiver.url)
    response = requests.post(f"{emulator.url}/_emulator/webhook_endpoints/{endpoint.id}/chaos",
                             data={"enabled": "true"})
    assert response.json()["chaos"] is True
    customer = stripe_client.v1.customers.create(params={})
    for i in range(4):
        stripe_client.v1.customers.update(customer.id, params={"name": f"n{i}"})
    assert emulator.drain() == 0
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == 10 and all(ids.count(i) == 2 for i in set(ids))
    for delivery in receiver.received:
        stripe.Webhook.construct_event(delivery["body"], delivery["headers"]["Stripe-Signature"],
                                       endpoint.secret)


def first_arrivals(receiver: Receiver, event_ids: list[str]) -> list[str]:
    """The given events in the order their first copy reached the receiver."""
    seen: list[str] = []
    for event in receiver.events():
        if event["id"] in event_ids and event["id"] not in seen:
            seen.append(event["id"])
    return seen


def test_chaos_delivers_one_objects_events_out_of_order(receiver):
    # A fixed seed makes the shuffle repeatable. The endpoint exists only from the payment
    # on, and paying records all its events (three of them for one invoice) in one commit,
    # so they form one chaos batch and the outcome does not depend on timing.
    with start_in_thread(chaos_seed=1, **FAST_WEBHOOKS) as emulator:
        client = stripe.StripeClient(emulator.secret_key, base_addresses={"api": emulator.url},
                                     max_network_retries=0)
        session = subscription_session(client, monthly_price(client).id)
        endpoint = add_endpoint(client, receiver.url)
        emulator.emulator.app.set_chaos(endpoint.id, True)
        assert pay(session.url).status_code == 303
        assert emulator.drain() == 0
        invoice_id = client.v1.checkout.sessions.retrieve(session.id).invoice
        invoice_events = [e.id for e in reversed(client.v1.events.list(params={
            "type": "invoice.*"}).data) if e.data.object.id == invoice_id]
    assert len(invoice_events) == 3  # created, paid, payment_succeeded, oldest first
    arrived = first_arrivals(receiver, invoice_events)
    assert sorted(arrived) == sorted(invoice_events)
    assert arrived != invoice_events


def test_without_chaos_one_objects_events_arrive_in_order(stripe_client, emulator, receiver):
    add_endpoint(stripe_client, receiver.url)
    _session, sub = subscribe(stripe_client)
    assert emulator.drain() == 0
    invoice_events = [e.id for e in reversed(stripe_client.v1.events.list(params={
        "type": "invoice.*"}).data) if e.data.object.id == sub.latest_invoice]
    assert first_arrivals(receiver, invoice_events) == invoice_events
