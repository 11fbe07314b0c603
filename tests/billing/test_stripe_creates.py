"""Every create this site sends to Stripe carries an idempotency key of ours.

(The SDK adds a random key of its own to a POST without one; that only covers
its own retries within the call, never a re-run after a lost answer.)
"""

from __future__ import annotations

import pytest

from payments import gateway
from tests.fixtures.billing import WEBHOOK_PATH

from .emulator_requests import watch

pytestmark = pytest.mark.django_db(transaction=True)


def price_params(**extra) -> dict:
    return {"product_name": "Gold", "unit_amount": 1000, "currency": "usd",
            "interval": "month", "lookup_key": "kb_gold_monthly", **extra}


def test_a_price_created_twice_is_one_price(stripe_enabled, emulator):
    stripe_log = watch(emulator)
    first = gateway.create_recurring_price(**price_params())
    again = gateway.create_recurring_price(**price_params())  # a re-run after a lost answer
    assert again["id"] == first["id"]
    [key, same] = stripe_log.keys("POST", "/v1/prices")
    assert key.startswith("kb-price-") and key == same
    listed = stripe_enabled.client.v1.prices.list(params={"lookup_keys": ["kb_gold_monthly"]})
    assert [p.id for p in listed.data] == [first["id"]]


def test_a_webhook_endpoint_create_sends_a_key_of_its_own(stripe_enabled, emulator):
    stripe_log = watch(emulator)
    url = stripe_enabled.site_url + WEBHOOK_PATH
    first = gateway.create_webhook_endpoint(url=url, events=["customer.subscription.created"])
    gateway.delete_webhook_endpoint(first["id"])
    # Registered again for the same URL: a new endpoint, not a replay of the deleted one.
    again = gateway.create_webhook_endpoint(url=url, events=["customer.subscription.created"])
    assert again["id"] != first["id"] and again["secret"].startswith("whsec_")
    keys = stripe_log.keys("POST", "/v1/webhook_endpoints")
    assert len(keys) == 2 and keys[0] != keys[1]
    assert all(key.startswith("kb-webhook-endpoint-") for key in keys), keys


def test_a_webhook_endpoint_is_pinned_to_the_api_version_the_app_reads(stripe_enabled):
    """Else Stripe shapes its events in the account's default version, which may be
    another than the one the app's parsing follows."""
    import stripe

    made = gateway.create_webhook_endpoint(url="http://127.0.0.1:9/hook",
                                           events=["customer.subscription.created"])

    assert made["api_version"] == stripe.api_version == "2026-10-28.endive"


def test_every_create_sends_a_key(stripe_enabled, emulator, basic_price):
    price_id, _ = basic_price
    stripe_log = watch(emulator)
    gateway.create_checkout_session(
        {"mode": "subscription", "line_items": [{"price": price_id, "quantity": 1}],
         "success_url": "https://example.com/thanks"},
        idempotency_key="kb-test-session-1")
    gateway.create_recurring_price(**price_params(lookup_key="kb_other"))
    gateway.create_webhook_endpoint(url="http://127.0.0.1:9/hook", events=["*"])
    creates = [s for s in stripe_log.seen if s.method == "POST"]
    assert len(creates) == 3
    assert {s.path for s in creates} == {"/v1/checkout/sessions",
                                         "/v1/prices", "/v1/webhook_endpoints"}
    assert all((s.idempotency_key or "").startswith("kb-") for s in creates), creates
