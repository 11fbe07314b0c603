"""Generated requests against the seeded APIs with Stripe switched on (the emulator, live).

test_fuzz.py fuzzes with Stripe off, where the payment operations stop at the 503
guard. Here seed_demo runs for real against an emulator (prices, webhook endpoint back
to ``live_server``), so generated requests reach the payment services and the emulator
behind them. Every operation the document lists runs with every schemathesis phase and
check, signed out, then as the demo member before and after subscribing: every
answer must be documented, and every schema-valid request accepted or refused with a
documented state (401, 409...).
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from members.models import Member, MemberGroup
from payments.models import StripeSettings
from tests.fixtures.billing import pay, wait_for

from .test_fuzz import (
    ALLOWED_ORIGIN,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SEEDED_APIS,
    SIGN_IN,
    fuzz,
    load_schema,
    members_only,
    reached_as_member,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded_with_stripe(settings, monkeypatch, emulator, live_server):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["localhost", "testserver", "127.0.0.1"]
    settings.DEMO_MEMBER_PASSWORD = DEMO_PASSWORD
    settings.AXES_ENABLED = False
    settings.STRIPE_API_BASE = emulator.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 5
    settings.DEMO_SITE_URL = live_server.url
    monkeypatch.setenv("DEMO_STRIPE_SECRET_KEY", emulator.secret_key)
    monkeypatch.setenv("DEMO_STRIPE_PUBLISHABLE_KEY", emulator.publishable_key)
    out = io.StringIO()
    call_command("seed_demo", stdout=out, stderr=out)

    config = StripeSettings.load()
    assert config.enabled and config.webhook_secret, out.getvalue()
    assert all(MemberGroup.objects.values_list("stripe_price_id", flat=True)), out.getvalue()
    return emulator


def as_meta(headers: dict) -> dict:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def subscribe(client, api_id: int, auth: dict, emulator) -> str:
    """Check out and pay as the demo member; the subscription ID once the webhook landed."""
    response = client.post(f"/rcms-api/{api_id}/stripe/checkout", data="{}",
                           content_type="application/json", **as_meta(auth["headers"]))
    assert response.status_code == 200, response.content
    assert pay(response.json()["url"]).status_code == 303
    emulator.drain()
    subscription_id = wait_for(
        lambda: Member.objects.get(email=DEMO_EMAIL).stripe_subscription_id)
    assert subscription_id, "the checkout's webhook never reached the app"
    return subscription_id


def statuses_of(ran: dict[str, list[int]], path: str) -> list[int]:
    return next(statuses for label, statuses in ran.items() if label.endswith(path))


@pytest.mark.parametrize("api_id", SEEDED_APIS)
def test_generated_requests_with_stripe_on_are_accepted_or_refused_as_documented(
        seeded_with_stripe, client, api_id):
    emulator = seeded_with_stripe

    signed_out = fuzz(load_schema(api_id, signed_in=False), stripe_off=False)
    # Not subscribed: checkout opens real sessions at the emulator.
    schema = load_schema(api_id, signed_in=True)
    before = fuzz(schema, stripe_off=False)
    # Subscribed: the first cancel cancels it at the emulator, the rest have nothing left.
    subscription_id = subscribe(client, api_id, SIGN_IN[api_id](client), emulator)
    after = fuzz(load_schema(api_id, signed_in=True), stripe_off=False)

    assert set(signed_out) == set(before) == set(after)
    for label in members_only(schema):
        assert not reached_as_member(signed_out[label]), (label, signed_out[label])
        assert reached_as_member(before[label]), (label, before[label])
        assert reached_as_member(after[label]), (label, after[label])
    assert 200 in statuses_of(before, "/stripe/checkout"), before
    assert 200 in statuses_of(after, "/stripe/cancel"), after
    assert emulator_subscription_status(emulator, subscription_id) == "canceled"


def emulator_subscription_status(emulator, subscription_id: str) -> str:
    import stripe

    client = stripe.StripeClient(emulator.secret_key, base_addresses={"api": emulator.url},
                                 max_network_retries=0)
    return client.v1.subscriptions.retrieve(subscription_id).status


def test_the_seeded_checkout_answers_a_session_url_on_the_emulator(seeded_with_stripe, client):
    """The control for the pass above: an empty body is a real checkout, not a guard."""
    login = client.post("/rcms-api/1/login", data=json.dumps(
        {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}), content_type="application/json",
        HTTP_ORIGIN=ALLOWED_ORIGIN)
    assert login.status_code == 200

    response = client.post("/rcms-api/1/stripe/checkout", data="{}",
                           content_type="application/json", HTTP_ORIGIN=ALLOWED_ORIGIN)

    assert response.status_code == 200, response.content
    assert response.json()["url"].startswith(seeded_with_stripe.url)
