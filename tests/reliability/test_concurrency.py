"""Races between gunicorn workers on PostgreSQL: webhooks, checkout and cancel at once.

Each scenario takes its own member from the stack's pool, so scenarios never see each
other's state. Stripe is the emulator in its own process; the app is gunicorn with two
workers; state is read from the app's database with psycopg.
"""

from __future__ import annotations

import itertools
import time

import pytest
import requests

from tests.fixtures.processes import make_event

from .live import (
    BASIC,
    COOKIE_API,
    CREATED,
    DELETED,
    PREMIUM,
    TOKEN_API,
    UPDATED,
    ApiCaller,
    MemberPool,
    active_subscription_event,
    all_at_once,
    drain,
    give_group_by_hand,
    groups_of,
    member_row,
    pay,
    posted_at_once,
    real_lifecycle,
    set_emulator_deliveries,
    subscription_snapshot,
    subscription_state,
    webhook_rows,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pool(live_stack) -> MemberPool:
    return MemberPool(40)


@pytest.fixture(scope="module")
def prices(live_stack) -> dict[str, str]:
    return live_stack.layout["prices"]


def test_one_event_posted_20_times_at_once_is_applied_once(live_stack, pool, prices):
    email = pool.take()
    event = active_subscription_event(live_stack, email, prices[BASIC])
    subscription = event["data"]["object"]

    statuses = posted_at_once(live_stack, event)

    # Exactly one delivery applied it.
    assert statuses == ["duplicate"] * 19 + ["processed"], statuses
    assert webhook_rows(live_stack, event["id"]) == [("processed", 1)]
    assert member_row(live_stack, email).subscription_id == subscription["id"]
    assert groups_of(live_stack, email) == {(BASIC, "stripe")}


def _deliver(stack, events: list[dict], *, concurrently: bool) -> list[requests.Response]:
    def post(event: dict):
        return lambda: stack.post_event(event)

    if concurrently:
        return all_at_once([post(e) for e in events])
    return [post(e)() for e in events]


LIFECYCLE_ORDERS = [
    (order, concurrently, tie)
    for order in itertools.permutations((CREATED, UPDATED, DELETED))
    for concurrently in (True, False)
    for tie in (False, True)
]


@pytest.fixture
def quiet_emulator(live_stack):
    """The emulator stops sending its own events, so only the order under test arrives."""
    set_emulator_deliveries(live_stack, False)
    yield
    set_emulator_deliveries(live_stack, True)


def order_ids(cases) -> list[str]:
    """Readable test ids, e.g. ``created-deleted-updated-parallel-same-second``."""
    return [
        f"{'-'.join(t.rsplit('.', 1)[1] for t in order)}-"
        f"{'parallel' if concurrently else 'serial'}{'-same-second' if tie else ''}"
        for order, concurrently, tie in cases
    ]


@pytest.mark.parametrize(
    ("order", "concurrently", "tie"), LIFECYCLE_ORDERS,
    ids=order_ids(LIFECYCLE_ORDERS),
)
def test_created_updated_deleted_in_any_order_end_deleted(
    live_stack, pool, prices, quiet_emulator, order, concurrently, tie
):
    email = pool.take()
    snapshots = real_lifecycle(live_stack, email, prices, delete=True)
    base = int(time.time()) - 60
    # Stripe's order: created, then updated, then deleted. "tie": all in one second, which
    # only a fetch from Stripe can settle.
    created_at = {CREATED: base, UPDATED: base if tie else base + 1,
                  DELETED: base if tie else base + 2}
    events = [make_event(t, snapshots[t], created=created_at[t]) for t in order]

    answers = _deliver(live_stack, events, concurrently=concurrently)

    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    subscription_id = snapshots[CREATED]["id"]
    assert member_row(live_stack, email).subscription_id is None
    assert groups_of(live_stack, email) == set()
    assert subscription_state(live_stack, subscription_id)[1] is True  # deleted, for good
    for event in events:
        assert webhook_rows(live_stack, event["id"])[0][0] == "processed"
    if tie and not concurrently and DELETED not in order[:2]:
        # The second event tied with the first: the app must have asked Stripe.
        assert fetched_from_stripe(live_stack, events[1]["id"])


def fetched_from_stripe(stack, event_id: str) -> bool:
    """Whether the app settled this event by fetching the subscription (its stored note)."""
    note = stack.scalar("SELECT note FROM payments_webhookevent WHERE event_id = %s",
                        [event_id]) or ""
    return "fetched from stripe" in note.lower()


UPGRADE_ORDERS = [
    (order, concurrently, tie)
    for order in itertools.permutations((CREATED, UPDATED))
    for concurrently in (True, False)
    for tie in (False, True)
]


@pytest.mark.parametrize(
    ("order", "concurrently", "tie"), UPGRADE_ORDERS,
    ids=order_ids(UPGRADE_ORDERS),
)
def test_created_and_upgrade_in_any_order_end_on_the_new_price(
    live_stack, pool, prices, quiet_emulator, order, concurrently, tie
):
    email = pool.take()
    snapshots = real_lifecycle(live_stack, email, prices, delete=False)
    base = int(time.time()) - 60
    created_at = {CREATED: base, UPDATED: base if tie else base + 1}
    events = [make_event(t, snapshots[t], created=created_at[t]) for t in order]

    answers = _deliver(live_stack, events, concurrently=concurrently)

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert member_row(live_stack, email).subscription_id == snapshots[CREATED]["id"]
    assert groups_of(live_stack, email) == {(PREMIUM, "stripe")}
    if tie and not concurrently:
        assert fetched_from_stripe(live_stack, events[1]["id"])


def test_ten_checkouts_at_once_make_one_customer_and_one_subscription(live_stack, pool):
    email = pool.take()
    member = ApiCaller(live_stack, COOKIE_API, email)

    answers = all_at_once([lambda: member.post("checkout") for _ in range(10)])

    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    urls = {a.json()["url"] for a in answers}
    # The same attempt every time: Stripe replays one session for one idempotency key.
    assert len(urls) == 1, urls

    for url in urls:
        assert pay(url).status_code == 303
        pay(url)  # a second tab submitting the same, already paid session
    drain(live_stack)

    # Checkout made the customer when the member paid; the webhook linked it.
    customers = live_stack.stripe().v1.customers.list(params={"email": email}).data
    assert len(customers) == 1
    assert member_row(live_stack, email).customer_id == customers[0].id
    held = member_row(live_stack, email).subscription_id
    assert held is not None
    subscriptions = live_stack.stripe().v1.subscriptions.list(
        params={"customer": customers[0].id, "status": "all"}).data
    assert [s.id for s in subscriptions] == [held]
    assert groups_of(live_stack, email) == {(BASIC, "stripe")}
    again = member.post("checkout")
    assert again.status_code == 409, again.text
    assert again.json()["errors"][0]["code"] == "conflict"


@pytest.mark.parametrize("round_", range(3))
def test_cancel_racing_the_deleted_webhook_ends_canceled(live_stack, pool, prices, round_):
    email = pool.take()
    member = ApiCaller(live_stack, TOKEN_API, email)
    give_group_by_hand(live_stack, email, "Hand-picked")
    checkout = member.post("checkout")
    assert checkout.status_code == 200, checkout.text
    assert pay(checkout.json()["url"]).status_code == 303
    drain(live_stack)
    subscription_id = member_row(live_stack, email).subscription_id
    assert subscription_id is not None
    assert groups_of(live_stack, email) == {(BASIC, "stripe"), ("Hand-picked", "admin")}

    def dashboard_cancel():
        # Someone cancels in the Stripe Dashboard; Stripe sends the deleted event.
        live_stack.stripe().v1.subscriptions.cancel(subscription_id)
        snapshot = subscription_snapshot(live_stack, subscription_id)
        return live_stack.post_event(make_event(DELETED, snapshot, created=int(time.time())))

    calls = [lambda: member.post("cancel_order"), dashboard_cancel]
    if round_ % 2:
        calls.reverse()
    answers = all_at_once(calls)
    cancel, webhook = answers if not round_ % 2 else answers[::-1]
    drain(live_stack)

    assert cancel.status_code in (200, 409), cancel.text
    if cancel.status_code == 409:
        assert cancel.json()["errors"][0]["code"] == "conflict"
    assert webhook.status_code == 200, webhook.text
    assert member_row(live_stack, email).subscription_id is None
    assert groups_of(live_stack, email) == {("Hand-picked", "admin")}
    assert subscription_state(live_stack, subscription_id)[1] is True
    assert subscription_snapshot(live_stack, subscription_id)["status"] == "canceled"
    failed = live_stack.scalar(
        "SELECT count(*) FROM payments_webhookevent WHERE status = 'failed' "
        "AND payload->'data'->'object'->>'id' = %s", [subscription_id])
    assert failed == 0
