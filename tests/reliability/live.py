"""Helpers for tests against the live stack (gunicorn + emulator + PostgreSQL).

The app runs in other processes, so state is read straight from its database with
psycopg, and the API is called over HTTP the way a front end would call it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from tests.fixtures.processes import (
    EMULATOR_SECRET_KEY,
    RELIABILITY_PASSWORD,
    Stack,
    encode,
    make_event,
    reliability_email,
    signed_headers,
)

OK_CARD = "4242424242424242"
COOKIE_API = 1
TOKEN_API = 2


def all_at_once(calls: Sequence[Callable[[], Any]], *, timeout: float = 60) -> list[Any]:
    """Run every call in its own thread, released together by a barrier; results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout) for future in futures]


# --- Members --------------------------------------------------------------------------

class MemberPool:
    """Hands out the stack's pre-made members, one per scenario, so scenarios never share."""

    def __init__(self, size: int) -> None:
        self._next = 0
        self._size = size
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            if self._next >= self._size:
                raise RuntimeError("The live stack ran out of test members; raise `members`.")
            email = reliability_email(self._next)
            self._next += 1
            return email


@dataclass
class MemberRow:
    id: int
    customer_id: str | None
    subscription_id: str | None


def member_row(stack: Stack, email: str) -> MemberRow:
    row = stack.query(
        "SELECT id, stripe_customer_id, stripe_subscription_id FROM members_member "
        "WHERE email = %s", [email],
    )[0]
    return MemberRow(*row)


def groups_of(stack: Stack, email: str) -> set[tuple[str, str]]:
    """``{(group name, source)}`` of the member's memberships."""
    rows = stack.query(
        "SELECT g.name, ms.source FROM members_membership ms "
        "JOIN members_membergroup g ON g.id = ms.group_id "
        "JOIN members_member m ON m.id = ms.member_id WHERE m.email = %s", [email],
    )
    return {(name, source) for name, source in rows}


def set_customer(stack: Stack, email: str, customer_id: str | None) -> None:
    stack.query("UPDATE members_member SET stripe_customer_id = %s WHERE email = %s",
                [customer_id, email])


def give_group_by_hand(stack: Stack, email: str, group_name: str) -> None:
    """What an administrator does in the member editor: a source=admin membership."""
    stack.query(
        "INSERT INTO members_membergroup (name, description, price_product_name, "
        "price_currency, price_interval) VALUES (%s, '', '', '', '') "
        "ON CONFLICT (name) DO NOTHING", [group_name],
    )
    stack.query(
        "INSERT INTO members_membership (member_id, group_id, source, stripe_subscription_id, "
        "created_at) SELECT m.id, g.id, 'admin', '', now() FROM members_member m, "
        "members_membergroup g WHERE m.email = %s AND g.name = %s", [email, group_name],
    )


def webhook_rows(stack: Stack, event_id: str) -> list[tuple[str, int]]:
    return stack.query(
        "SELECT status, attempts FROM payments_webhookevent WHERE event_id = %s", [event_id]
    )


def subscription_state(stack: Stack, subscription_id: str) -> tuple[str, bool] | None:
    rows = stack.query(
        "SELECT status, deleted FROM payments_subscriptionstate WHERE subscription_id = %s",
        [subscription_id],
    )
    return rows[0] if rows else None


# --- The front-end API, over HTTP -----------------------------------------------------

class ApiCaller:
    """A signed-in member on one of the seeded APIs."""

    def __init__(self, stack: Stack, api_id: int, email: str,
                 password: str = RELIABILITY_PASSWORD) -> None:
        self.stack = stack
        self.api_id = api_id
        self.headers: dict[str, str] = {"Origin": stack.url}
        self.cookies: dict[str, str] = {}
        paths = stack.layout["apis"][str(api_id)]["paths"]
        self.paths = paths
        login = requests.post(self.url("login_challenge"),
                              json={"email": email, "password": password},
                              headers=self.headers, timeout=30)
        assert login.status_code == 200, login.text
        if stack.layout["apis"][str(api_id)]["security"] == "cookie":
            self.cookies = login.cookies.get_dict()
            assert self.cookies, "the cookie API set no session cookie"
        else:
            token = requests.post(self.url("token"),
                                  json={"grant_token": login.json()["grant_token"]},
                                  headers=self.headers, timeout=30)
            assert token.status_code == 200, token.text
            self.headers["X-RCMS-API-ACCESS-TOKEN"] = token.json()["access_token"]["value"]

    def url(self, operation: str) -> str:
        return f"{self.stack.url}/rcms-api/{self.api_id}/{self.paths[operation]}"

    def post(self, operation: str, body: dict | None = None) -> requests.Response:
        # A fresh cookie jar per call: requests.Session is not shared across threads.
        return requests.post(self.url(operation), json=body or {}, headers=self.headers,
                             cookies=self.cookies, timeout=60)

    def get(self, operation: str) -> requests.Response:
        return requests.get(self.url(operation), headers=self.headers, cookies=self.cookies,
                            timeout=60)


# --- Stripe, through the emulator -----------------------------------------------------

def pay(session_url: str, card: str = OK_CARD) -> requests.Response:
    """Submit the emulator's hosted checkout page, as a buyer would."""
    return requests.post(
        session_url,
        data={"card_number": card, "card_expiry": "12/34", "card_cvc": "123",
              "cardholder_name": "Reliability Test"},
        allow_redirects=False, timeout=30,
    )


def drain(stack: Stack) -> None:
    """Wait until the emulator has delivered every queued webhook."""
    requests.post(f"{stack.emulator_url}/_emulator/drain", timeout=60).raise_for_status()


def webhook_endpoint_id(stack: Stack) -> str:
    endpoints = stack.stripe().v1.webhook_endpoints.list(params={"limit": 100}).data
    return next(e.id for e in endpoints if e.url == stack.webhook_url)


def set_emulator_deliveries(stack: Stack, enabled: bool) -> None:
    """Switch the emulator's own webhook deliveries to the app on or off."""
    stack.stripe().v1.webhook_endpoints.update(
        webhook_endpoint_id(stack), params={"disabled": not enabled})


def subscribe_in_stripe(stack: Stack, email: str, price_id: str) -> tuple[str, str]:
    """A real, paid subscription for a new customer of ``email``: ``(customer, subscription)``.

    Made straight in Stripe (as the app's checkout would make it), and the customer ID is
    stored on the member, as checkout does.
    """
    stripe = stack.stripe()
    member = member_row(stack, email)
    customer = stripe.v1.customers.create(
        params={"email": email, "metadata": {"member_id": str(member.id)}})
    set_customer(stack, email, customer.id)
    session = stripe.v1.checkout.sessions.create(params={
        "mode": "subscription",
        "customer": customer.id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": f"{stack.url}/thanks",
        "cancel_url": f"{stack.url}/sorry",
        "subscription_data": {"metadata": {"member_id": str(member.id)}},
    })
    answer = pay(session.url)
    assert answer.status_code == 303, answer.text
    subscription_id = stripe.v1.checkout.sessions.retrieve(session.id).subscription
    assert subscription_id, "paying the session made no subscription"
    return customer.id, subscription_id


def subscription_snapshot(stack: Stack, subscription_id: str) -> dict:
    """The subscription exactly as Stripe's JSON has it (the SDK would turn amounts to Decimal)."""
    response = requests.get(f"{stack.emulator_url}/v1/subscriptions/{subscription_id}",
                            auth=(EMULATOR_SECRET_KEY, ""), timeout=30)
    response.raise_for_status()
    return response.json()


def event_from(event_type: str, snapshot: dict, created: int) -> dict:
    return make_event(event_type, snapshot, created=created)


BASIC, PREMIUM = "Basic members", "Premium members"  # seed_demo's priced groups
CREATED, UPDATED, DELETED = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


def real_lifecycle(stack, email: str, prices: dict[str, str], *, delete: bool) -> dict:
    """created → updated (Basic → Premium) → [deleted] in the emulator; the three snapshots."""
    _, subscription_id = subscribe_in_stripe(stack, email, prices[BASIC])
    snapshots = {CREATED: subscription_snapshot(stack, subscription_id)}
    stripe = stack.stripe()
    item_id = snapshots[CREATED]["items"]["data"][0]["id"]
    stripe.v1.subscriptions.update(
        subscription_id, params={"items": [{"id": item_id, "price": prices[PREMIUM]}]})
    snapshots[UPDATED] = subscription_snapshot(stack, subscription_id)
    if delete:
        stripe.v1.subscriptions.cancel(subscription_id)
        snapshots[DELETED] = subscription_snapshot(stack, subscription_id)
    return snapshots


def active_subscription_event(stack, email: str, price_id: str) -> dict:
    """A ``created`` event of an active subscription to ``price_id`` for ``email``, made
    here (not in Stripe) under a fresh customer ID the member now has."""
    tag = str(time.time_ns())
    set_customer(stack, email, "cus_t" + tag)
    subscription = {
        "id": "sub_t" + tag, "object": "subscription",
        "customer": member_row(stack, email).customer_id, "status": "active", "metadata": {},
        "items": {"object": "list", "data": [
            {"id": "si_t" + tag, "object": "subscription_item", "quantity": 1,
             "price": {"id": price_id, "object": "price"},
             "current_period_end": int(time.time()) + 30 * 86400},
        ]},
    }
    return make_event(CREATED, subscription, created=int(time.time()))


def posted_at_once(stack, event: dict, times: int = 20) -> list[str]:
    """Deliver ``event`` ``times`` times at the same moment, signed; the answers' statuses
    (after checking every delivery was acknowledged), sorted."""
    body = encode(event)
    headers = signed_headers(body, stack.webhook_secret)
    answers = all_at_once([
        lambda: requests.post(stack.webhook_url, data=body, headers=headers, timeout=60)
        for _ in range(times)
    ])
    # Every delivery is acknowledged, so Stripe stops retrying.
    assert [a.status_code for a in answers] == [200] * times, [a.text for a in answers]
    return sorted(a.json()["status"] for a in answers)
