"""The subscription → groups rules and the ordering of events (crafted payloads)."""

from __future__ import annotations

import time

import pytest

from members.models import Member, MemberGroup, Membership
from payments.models import SubscriptionState, WebhookEvent
from payments.services.webhooks import process_event, reprocess_event
from tests.fixtures.billing import make_event, make_subscription

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 1000


@pytest.fixture
def groups(db):
    return {
        "gold": MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold"),
        "silver": MemberGroup.objects.create(name="Silver", stripe_price_id="price_silver"),
        "extra": MemberGroup.objects.create(name="Extra", stripe_price_id="price_extra"),
        "staff": MemberGroup.objects.create(name="Staff"),
    }


@pytest.fixture
def customer(member, stripe_settings):
    member.stripe_customer_id = "cus_unit1"
    member.save()
    return member


def send(type_: str = "customer.subscription.updated", *, created: int, event_id=None, **sub):
    event = make_event(make_subscription(**sub), type=type_, created=created, event_id=event_id)
    return process_event(event)


def group_names(member: Member) -> list[str]:
    return sorted(member.member_groups.values_list("name", flat=True))


@pytest.mark.parametrize(
    ("status", "granted"),
    [
        ("active", True),
        ("trialing", True),
        ("past_due", True),
        ("unpaid", False),
        ("canceled", False),
        ("incomplete", False),
        ("incomplete_expired", False),
        ("paused", False),
    ],
)
def test_status_table(customer, groups, status, granted):
    outcome = send(created=T0, status=status)
    assert outcome.result == "processed"
    customer.refresh_from_db()
    assert group_names(customer) == (["Gold"] if granted else [])
    assert customer.stripe_subscription_id == ("sub_unit1" if granted else None)


def test_granted_memberships_carry_source_and_subscription(customer, groups):
    send(created=T0, prices=["price_gold", "price_extra"])
    rows = Membership.objects.filter(member=customer).order_by("group__name")
    assert [(m.group.name, m.source, m.stripe_subscription_id) for m in rows] == [
        ("Extra", "stripe", "sub_unit1"),
        ("Gold", "stripe", "sub_unit1"),
    ]
    state = SubscriptionState.objects.get(subscription_id="sub_unit1")
    assert (state.status, state.price_ids, state.member) == (
        "active", ["price_gold", "price_extra"], customer)
    assert state.current_period_end is not None


def test_losing_access_removes_the_groups_and_the_id(customer, groups):
    send(created=T0, status="active")
    send(created=T0 + 1, status="past_due")
    customer.refresh_from_db()
    assert group_names(customer) == ["Gold"]  # Stripe's retry window keeps access
    send(created=T0 + 2, status="unpaid")
    customer.refresh_from_db()
    assert group_names(customer) == []
    assert customer.stripe_subscription_id is None
    send(created=T0 + 3, status="active")  # paid at last
    customer.refresh_from_db()
    assert group_names(customer) == ["Gold"]


def test_price_change_moves_the_member(customer, groups):
    send(created=T0, prices=["price_gold"])
    send(created=T0 + 1, prices=["price_silver"])
    customer.refresh_from_db()
    assert group_names(customer) == ["Silver"]


def test_admin_memberships_are_never_touched(customer, groups):
    Membership.objects.create(member=customer, group=groups["gold"], source="admin")
    Membership.objects.create(member=customer, group=groups["staff"], source="admin")
    send(created=T0, prices=["price_gold", "price_silver"])
    rows = {m.group.name: (m.source, m.stripe_subscription_id)
            for m in Membership.objects.filter(member=customer)}
    assert rows == {"Gold": ("admin", ""), "Staff": ("admin", ""),
                    "Silver": ("stripe", "sub_unit1")}

    send("customer.subscription.deleted", created=T0 + 1, status="canceled")
    assert group_names(customer) == ["Gold", "Staff"]
    assert set(Membership.objects.filter(member=customer).values_list("source", flat=True)) \
        == {"admin"}


def test_deletion_is_final(customer, groups):
    send(created=T0, status="active")
    send("customer.subscription.deleted", created=T0 + 5, status="canceled")
    late = send(created=T0 + 10, status="active")  # a stray later update
    assert late.result == "processed"
    assert "deletion is final" in late.event.error
    customer.refresh_from_db()
    assert group_names(customer) == []
    assert customer.stripe_subscription_id is None
    assert SubscriptionState.objects.get(subscription_id="sub_unit1").deleted


def test_late_created_after_deleted_never_grants(customer, groups):
    send("customer.subscription.deleted", created=T0 + 5, status="canceled")
    send("customer.subscription.created", created=T0, status="active")
    customer.refresh_from_db()
    assert group_names(customer) == []
    assert customer.stripe_subscription_id is None


def test_out_of_order_older_snapshot_is_skipped(customer, groups):
    send(created=T0 + 10, prices=["price_silver"])
    older = send(created=T0 + 5, prices=["price_gold"])
    assert "Older" in older.event.error
    customer.refresh_from_db()
    assert group_names(customer) == ["Silver"]
    assert SubscriptionState.objects.get(subscription_id="sub_unit1").last_event_created \
        == T0 + 10


def test_every_delivery_order_ends_in_the_same_state(customer, groups):
    import itertools

    events = [
        make_event(make_subscription(status="trialing", prices=["price_gold"]),
                   type="customer.subscription.created", created=T0),
        make_event(make_subscription(status="active", prices=["price_gold"]), created=T0 + 1),
        make_event(make_subscription(status="active", prices=["price_silver"]), created=T0 + 2),
    ]
    for order in itertools.permutations(events):
        Membership.objects.all().delete()
        SubscriptionState.objects.all().delete()
        WebhookEvent.objects.all().delete()
        Member.objects.filter(pk=customer.pk).update(stripe_subscription_id=None)
        for event in order:
            process_event(event)
            process_event(event)  # and every one delivered twice
        customer.refresh_from_db()
        assert group_names(customer) == ["Silver"], [e["created"] for e in order]
        assert customer.stripe_subscription_id == "sub_unit1"


def test_duplicate_event_is_applied_once(customer, groups):
    event = make_event(make_subscription(), created=T0)
    assert process_event(event).result == "processed"
    Membership.objects.all().delete()
    assert process_event(event).result == "duplicate"
    assert group_names(customer) == []


def test_another_subscription_does_not_clobber_the_held_one(customer, groups):
    send(created=T0, sub_id="sub_first", prices=["price_gold"])
    second = send(created=T0 + 1, sub_id="sub_second", prices=["price_silver"])
    assert "already holds the active subscription sub_first" in second.event.error
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_first"
    assert group_names(customer) == ["Gold"]

    # Once the held one ends, the other one is the truth.
    send("customer.subscription.deleted", created=T0 + 2, sub_id="sub_first", status="canceled")
    send(created=T0 + 3, sub_id="sub_second", prices=["price_silver"])
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_second"
    assert group_names(customer) == ["Silver"]


def test_a_second_subscription_is_stored_ignored_and_flagged(customer, groups, caplog):
    send(created=T0, sub_id="sub_first", prices=["price_gold"])
    with caplog.at_level("WARNING", logger="payments.sync"):
        second = send("customer.subscription.created", created=T0 + 1, sub_id="sub_second",
                      prices=["price_silver"])

    assert second.result == "ignored"
    stored = WebhookEvent.objects.get(event_id=second.event.event_id)
    assert (stored.status, stored.member) == ("ignored", customer)
    assert "second subscription sub_second" in stored.error
    assert "not granted; cancel it in Stripe" in stored.error
    warnings = [r for r in caplog.records if r.name == "payments.sync"]
    assert [r.levelname for r in warnings] == ["WARNING"]
    line = warnings[0].getMessage()
    assert f"member={customer.pk}" in line
    assert "subscription=sub_second held=sub_first outcome=not_granted" in line
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_first"  # never auto-canceled or granted
    assert group_names(customer) == ["Gold"]


def test_deleting_an_old_subscription_leaves_the_new_one(customer, groups):
    send("customer.subscription.deleted", created=T0, sub_id="sub_old", status="canceled")
    send(created=T0 + 1, sub_id="sub_new", prices=["price_gold"])
    late = send("customer.subscription.deleted", created=T0 + 2, sub_id="sub_old",
                status="canceled", event_id="evt_late_delete")
    assert late.result == "processed"
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_new"
    assert group_names(customer) == ["Gold"]


def test_customer_mismatch_is_ignored(customer, groups):
    outcome = send(created=T0, customer="cus_other", member_id=customer.pk)
    assert outcome.result == "ignored"
    assert "not the member's customer" in outcome.event.error
    customer.refresh_from_db()
    assert customer.stripe_subscription_id is None


def test_reprocess_an_ignored_event_after_the_member_exists(stripe_settings, groups):
    event = make_event(make_subscription(customer="cus_later"), created=T0)
    assert process_event(event).result == "ignored"
    stored = WebhookEvent.objects.get(event_id=event["id"])

    late = Member.objects.create_user("late@example.com", "late-pass-123",
                                      stripe_customer_id="cus_later")
    updated = reprocess_event(stored)
    assert updated.status == "processed"
    assert updated.attempts == 2
    assert updated.member == late
    assert group_names(late) == ["Gold"]
    # Re-running a processed event is harmless.
    assert reprocess_event(updated).status == "processed"
    assert group_names(late) == ["Gold"]


def _members_and_groups(count: int) -> Member:
    MemberGroup.objects.bulk_create(
        MemberGroup(name=f"Group {i}", stripe_price_id=f"price_g{i}") for i in range(count)
    )
    Member.objects.bulk_create(
        Member(email=f"m{i}@example.com", stripe_customer_id=f"cus_m{i}") for i in range(count)
    )
    return Member.objects.get(email="m0@example.com")


@pytest.mark.parametrize("count", [5, 50])
def test_one_event_costs_a_bounded_number_of_queries(
    stripe_settings, django_assert_max_num_queries, count
):
    member = _members_and_groups(count)
    prices = [f"price_g{i}" for i in range(count)]
    first = make_event(make_subscription(customer="cus_m0", prices=prices), created=T0)
    change = make_event(make_subscription(customer="cus_m0", prices=prices[::2]),
                        created=T0 + 1)
    with django_assert_max_num_queries(22):
        assert process_event(first).result == "processed"
    with django_assert_max_num_queries(22):
        assert process_event(change).result == "processed"
    assert member.memberships.count() == len(prices[::2])
