"""A checkout stuck on Stripe holds no database lock: other members go on meanwhile.

Runs on the suite's database: SQLite (writes serialised, ``BEGIN IMMEDIATE``, as
under ``make run``) by default, PostgreSQL when ``DATABASE_URL`` points at it.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from kuroco_billing.rcms_api.models import Endpoint
from members.models import Member
from tests.fixtures.accounts import MEMBER_PASSWORD, OTHER_PASSWORD
from tests.fixtures.billing import WEBHOOK_PATH, make_event, make_subscription, signature_header

from .emulator_requests import watch
from .test_checkout_flow import ApiClient, error_of

pytestmark = pytest.mark.django_db(transaction=True)

HANG_SECONDS = 8
OTHERS_WITHIN_SECONDS = 1.0


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def test_a_hanging_checkout_blocks_no_one_else(stripe_enabled, emulator, checkout_api,
                                               basic_price, member, other_member, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 10
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    # The documented bound of one checkout: STRIPE_TIMEOUT_SECONDS * tries, for its one call.
    bound = settings.STRIPE_TIMEOUT_SECONDS * (1 + settings.STRIPE_MAX_NETWORK_RETRIES)
    price_id, gold = basic_price
    Endpoint.objects.create(api=checkout_api, path="profile", operation="profile")
    shopper = ApiClient(stripe_enabled.site_url, checkout_api).login(member.email,
                                                                     MEMBER_PASSWORD)
    stripe_log = watch(emulator)
    asked = threading.Event()
    stripe_log.on("POST", "/v1/checkout/sessions", "before", asked.set)
    stripe_enabled.post("/_emulator/faults", path="/v1/checkout/sessions", method="POST",
                        mode="hang", count=1, seconds=HANG_SECONDS)

    outcome: dict = {}

    def slow_checkout() -> None:
        outcome["response"], outcome["seconds"] = timed(shopper.checkout)

    checkout = threading.Thread(target=slow_checkout)
    checkout.start()
    assert asked.wait(10), "the checkout never reached Stripe"

    # Meanwhile, another member signs in, reads their profile, and gets a webhook.
    other = ApiClient(stripe_enabled.site_url, checkout_api)
    signed_in, sign_in_seconds = timed(lambda: other.post(
        "login", {"email": other_member.email, "password": OTHER_PASSWORD}))
    profile, profile_seconds = timed(lambda: other.http.get(
        f"{stripe_enabled.site_url}/rcms-api/{checkout_api.pk}/profile", timeout=30))
    body = json.dumps(make_event(
        make_subscription("sub_other1", customer="cus_other1", prices=[price_id],
                          member_id=other_member.pk),
        type="customer.subscription.created")).encode()
    delivered, webhook_seconds = timed(lambda: requests.post(
        stripe_enabled.site_url + WEBHOOK_PATH, data=body, timeout=30,
        headers={"Content-Type": "application/json",
                 "Stripe-Signature": signature_header(body, stripe_enabled.webhook_secret)}))
    still_hanging = checkout.is_alive()

    assert signed_in.status_code == 200, signed_in.text
    assert profile.status_code == 200, profile.text
    assert profile.json()["email"] == other_member.email
    assert delivered.status_code == 200, delivered.text
    assert list(Member.objects.get(pk=other_member.pk).member_groups.all()) == [gold]
    assert still_hanging, "the others were not served while the checkout waited on Stripe"
    seconds = {"sign-in": sign_in_seconds, "profile": profile_seconds,
               "webhook": webhook_seconds}
    assert max(seconds.values()) < OTHERS_WITHIN_SECONDS, seconds

    checkout.join(bound + 5)
    response = outcome["response"]
    assert response.status_code == 502, response.text  # Stripe's 500 after the hang
    assert error_of(response)["code"] == "bad_gateway"
    assert HANG_SECONDS <= outcome["seconds"] < bound + 1
    assert Member.objects.get(pk=member.pk).stripe_subscription_id is None
