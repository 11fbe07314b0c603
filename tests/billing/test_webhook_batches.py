"""The inbox's batches apply the one-event rules: a stream ends the same either way.

Two copies of the same members and streams: one copy gets every event applied as
it is received, the other gets the events queued and drained in batches of every
size. Members, groups, states and the event log must end the same, for many
random streams: out of order, twice, several subscriptions per member, a member
known only by the metadata, an unknown customer, administrators' groups.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from members.models import Member, MemberGroup, Membership
from payments.models import SubscriptionState, WebhookEvent
from payments.services import inbox, webhooks
from tests.fixtures.billing import UNIT_WEBHOOK_SECRET, queue_on, signature_header

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inbox_available")]

PRICES = ("price_eq_gold", "price_eq_silver", "price_eq_extra")
STATUSES = ("active", "active", "trialing", "past_due", "unpaid", "incomplete", "canceled")
T0 = int(time.time()) - 50_000
MEMBERS = 4


@pytest.fixture
def priced_groups(db, stripe_settings):
    groups = {p: MemberGroup.objects.create(name=p.removeprefix("price_eq_").title(),
                                            stripe_price_id=p) for p in PRICES}
    MemberGroup.objects.create(name="Staff")
    return groups


def _members(world: str, groups: dict) -> list[Member]:
    """Members 0 to 2 are Stripe customers; member 3 is known only by the metadata."""
    members = []
    for n in range(MEMBERS):
        member = Member.objects.create_user(
            f"{world}{n}@example.com", "pass-word-123",
            stripe_customer_id=f"cus_{world}{n}" if n < MEMBERS - 1 else None)
        members.append(member)
    # An administrator gave member 0 a priced group: never touched by Stripe.
    Membership.objects.create(member=members[0], group=groups["price_eq_gold"], source="admin")
    return members


def _stream(rng: random.Random, world: str, members: list[Member]) -> list[dict]:
    """Events for 1 to 3 subscriptions per member (and one unknown customer), in a random order."""
    events = []
    owners = [(n, members[n]) for n in range(MEMBERS)] + [(MEMBERS, None)]
    for n, member in owners:
        for s in range(rng.choice((1, 2, 3))):
            sub_id = f"sub_{world}{n}_{s}"
            created = T0 + rng.randint(0, 50) * 10
            for i in range(rng.randint(1, 5)):
                created += rng.randint(1, 9)  # strictly increasing: no same-second ties
                last = i > 0 and rng.random() < 0.2
                status = "canceled" if last else rng.choice(STATUSES)
                kind = ("customer.subscription.deleted" if last else
                        "customer.subscription.created" if i == 0 else
                        "customer.subscription.updated")
                customer = (f"cus_{world}{n}" if n < MEMBERS - 1 else
                            None if n == MEMBERS - 1 else f"cus_{world}_unknown")
                subscription = {
                    "id": sub_id, "object": "subscription", "customer": customer,
                    "status": status,
                    "metadata": ({"member_id": str(member.pk)} if member is not None else {}),
                    "items": {"object": "list", "data": [
                        {"id": f"si_{sub_id}_{k}", "object": "subscription_item", "quantity": 1,
                         "price": {"id": price, "object": "price"},
                         "current_period_end": created + 30 * 86400}
                        for k, price in enumerate(rng.sample(PRICES, rng.choice((1, 1, 2))))]},
                }
                events.append({"id": f"evt_{world}{n}_{s}_{i}", "object": "event",
                               "type": kind, "created": created, "livemode": False,
                               "data": {"object": subscription}})
                if last:
                    break
    rng.shuffle(events)
    events += rng.sample(events, len(events) // 4)  # some delivered twice
    rng.shuffle(events)
    return events


def _receive(event: dict) -> str:
    body = json.dumps(event).encode()
    return webhooks.receive(body, signature_header(body, UNIT_WEBHOOK_SECRET)).result


def _end_state(world: str, members: list[Member]) -> dict:
    """Everything the events decided, with the world's name taken out of the IDs."""
    def plain(value):
        return None if value is None else str(value).replace(world, "@")

    ids = {m.pk: n for n, m in enumerate(members)}
    state = {}
    for n, member in enumerate(members):
        member.refresh_from_db()
        state[f"member {n}"] = (
            plain(member.stripe_subscription_id), plain(member.stripe_customer_id),
            sorted((ms.group.name, ms.source, plain(ms.stripe_subscription_id))
                   for ms in member.memberships.select_related("group")))
    for row in SubscriptionState.objects.filter(subscription_id__contains=f"_{world}"):
        state[plain(row.subscription_id)] = (
            row.status, sorted(row.price_ids), row.last_event_created, plain(row.last_event_id),
            row.deleted, ids.get(row.member_id), row.cancel_at_period_end,
            row.current_period_end)
    for row in WebhookEvent.objects.filter(event_id__startswith=f"evt_{world}"):
        state[plain(row.event_id)] = (row.status, plain(row.note), ids.get(row.member_id),
                                      row.error)
    return state


@pytest.mark.parametrize("seed", range(60))
def test_batches_end_where_one_at_a_time_ends(priced_groups, settings, seed):
    rng = random.Random(seed)
    one_by_one, batched = _members("wx", priced_groups), _members("wy", priced_groups)
    stream = _stream(random.Random(seed), "wx", one_by_one)
    twin = _stream(random.Random(seed), "wy", batched)

    for event in stream:
        _receive(event)

    queue_on(settings)
    answers, position = [], 0
    while position < len(twin):
        # Deliveries arrive in bursts of any size; a drain (of any batch size) follows some.
        burst = twin[position:position + rng.randint(1, len(twin))]
        position += len(burst)
        answers += [_receive(event) for event in burst]
        if rng.random() < 0.7:
            inbox.drain(limit=rng.randint(1, 40))
    inbox.drain(limit=rng.randint(1, 40))

    assert set(answers) <= {"queued", "duplicate"}
    assert not WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).exists()
    assert _end_state("wy", batched) == _end_state("wx", one_by_one)


def test_two_new_subscriptions_of_one_second_late_grant_the_one_stored_last(priced_groups,
                                                                           settings):
    """The held subscription ends while two others, created in the same second, are
    live: one at a time grants the one stored last (the greater id); so must a batch
    that stores both, though neither has an id yet when it decides."""
    from tests.fixtures.billing import make_event, make_subscription

    def stream(world: str) -> list[dict]:
        def event(kind, created, sub, **fields):
            return make_event(make_subscription(f"sub_{world}_{sub}", customer=f"cus_{world}",
                                                **fields),
                              type=f"customer.subscription.{kind}", created=T0 + created,
                              event_id=f"evt_{world}_{sub}_{kind}")
        return [event("created", 0, "held", prices=["price_eq_gold"]),
                event("created", 5, "first", prices=["price_eq_silver"]),
                event("created", 5, "second", prices=["price_eq_extra"]),
                event("deleted", 6, "held", prices=["price_eq_gold"], status="canceled")]

    one_by_one = Member.objects.create_user("vx@example.com", "pass-word-123",
                                            stripe_customer_id="cus_vx")
    batched = Member.objects.create_user("vy@example.com", "pass-word-123",
                                         stripe_customer_id="cus_vy")
    for event in stream("vx"):
        _receive(event)
    queue_on(settings)
    first, *rest = stream("vy")
    _receive(first)
    inbox.drain()
    for event in rest:
        _receive(event)
    inbox.drain()  # one batch: both new subscriptions, then the deletion

    one_by_one.refresh_from_db()
    batched.refresh_from_db()
    assert one_by_one.stripe_subscription_id == "sub_vx_second"
    assert batched.stripe_subscription_id == "sub_vy_second"
    assert [g.name for g in batched.member_groups.all()] == ["Extra"]


def test_a_batch_costs_a_fixed_number_of_statements(priced_groups, settings,
                                                   django_assert_max_num_queries):
    """However many events and members: claim, two locks, one write (and the transaction)."""
    queue_on(settings)
    members = _members("wz", priced_groups)
    for event in _stream(random.Random(7), "wz", members):
        _receive(event)
    queued = WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).count()
    assert queued > 10
    with django_assert_max_num_queries(6):  # and BEGIN, COMMIT
        assert inbox.drain_batch(500) == queued
