"""The subscription → groups rules and the ordering of events (crafted payloads)."""

from __future__ import annotations

import time

import pytest

from members.models import Member, MemberGroup, Membership
from payments.models import SubscriptionState, WebhookEvent
from payments.services.webhooks import reprocess_event
from tests.fixtures.billing import deliver, make_event, make_subscription

# Every rule holds both ways: applied as received, and queued then drained.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("apply_mode")]

T0 = int(time.time()) - 1000


@pytest.fixture
def groups(db):
    return {
        "gold": MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold"),
        "silver": MemberGroup.objects.create(name="Silver", stripe_price_id="price_silver"),
        "extra": MemberGroup.objects.create(name="Extra", stripe_price_id="price_extra"),
        "staff": MemberGroup.objects.create(name="Staff"),
    }


def send(type_: str = "customer.subscription.updated", *, created: int, event_id=None, **sub):
    event = make_event(make_subscription(**sub), type=type_, created=created, event_id=event_id)
    return deliver(event)


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
    assert "deletion is final" in late.event.note
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
    assert "Older" in older.event.note
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
            deliver(event)
            deliver(event)  # and every one delivered twice
        customer.refresh_from_db()
        assert group_names(customer) == ["Silver"], [e["created"] for e in order]
        assert customer.stripe_subscription_id == "sub_unit1"


def test_duplicate_event_is_applied_once(customer, groups):
    event = make_event(make_subscription(), created=T0)
    assert deliver(event).result == "processed"
    Membership.objects.all().delete()
    assert deliver(event).result == "duplicate"
    assert group_names(customer) == []


def test_another_subscription_does_not_clobber_the_held_one(customer, groups):
    send(created=T0, sub_id="sub_first", prices=["price_gold"])
    second = send(created=T0 + 1, sub_id="sub_second", prices=["price_silver"])
    assert "already holds the active subscription sub_first" in second.event.note
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
    assert "second subscription sub_second" in stored.note
    assert "not granted; cancel it in Stripe" in stored.note
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
    assert "not the member's customer" in outcome.event.note
    customer.refresh_from_db()
    assert customer.stripe_subscription_id is None


def test_reprocess_an_ignored_event_after_the_member_exists(stripe_settings, groups):
    event = make_event(make_subscription(customer="cus_later"), created=T0)
    assert deliver(event).result == "ignored"
    stored = WebhookEvent.objects.get(event_id=event["id"])

    late = Member.objects.create_user("late@example.com", "late-pass-123",
                                      stripe_customer_id="cus_later")
    updated, _ = reprocess_event(stored)
    assert updated.status == "processed"
    assert updated.attempts == 2
    assert updated.member == late
    assert group_names(late) == ["Gold"]
    # Re-running a processed event is harmless.
    assert reprocess_event(updated)[0].status == "processed"
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
        assert deliver(first).result == "processed"
    with django_assert_max_num_queries(22):
        assert deliver(change).result == "processed"
    assert member.memberships.count() == len(prices[::2])


# --- Outcomes: failures in ``error``, everything else in ``note`` -------------------

def test_a_skipped_event_is_a_note_not_an_error(customer, groups):
    send(created=T0 + 10, prices=["price_silver"])
    older = send(created=T0 + 5, prices=["price_gold"])
    assert (older.result, older.event.error) == ("processed", "")
    assert older.event.note == "Older than the state already applied; skipped."


def test_the_deletion_after_a_cancel_reads_as_normal(customer, groups):
    send(created=T0, status="active")
    send("customer.subscription.deleted", created=T0 + 5, status="canceled")
    again = send("customer.subscription.deleted", created=T0 + 6, status="canceled",
                 event_id="evt_second_delete")
    assert (again.result, again.event.error) == ("processed", "")
    assert again.event.note == "Subscription already deleted."


def test_a_subscription_another_member_holds_is_ignored_not_failed(customer, groups,
                                                                   other_member):
    """A signed event giving member B the subscription member A holds (Stripe never moves
    one between customers): was an IntegrityError, stored failed and retried for days."""
    send(created=T0, sub_id="sub_held", prices=["price_gold"])
    other_member.stripe_customer_id = "cus_unit2"
    other_member.save()

    outcome = send(created=T0 + 1, sub_id="sub_held", customer="cus_unit2",
                   prices=["price_silver"])

    assert outcome.result == "ignored"
    assert outcome.event.note == ("Not applied: subscription sub_held is held by another "
                                  f"member (#{customer.pk}); a subscription gives one member "
                                  "its groups.")
    assert outcome.event.error == ""
    customer.refresh_from_db()
    assert (customer.stripe_subscription_id, group_names(customer)) == ("sub_held", ["Gold"])
    other_member.refresh_from_db()
    assert (other_member.stripe_subscription_id, group_names(other_member)) == (None, [])
    # A's own next event still applies: the ignored one moved no ordering marker.
    send(created=T0 + 1, sub_id="sub_held", prices=["price_silver"], event_id="evt_a_next")
    assert group_names(customer) == ["Silver"]


# --- Late grants ---------------------------------------------------------------------

def test_the_other_live_subscription_is_granted_when_the_held_one_ends(customer, groups):
    send(created=T0, sub_id="sub_first", prices=["price_gold"])
    assert send(created=T0 + 1, sub_id="sub_second",
                prices=["price_silver"]).result == "ignored"

    ended = send("customer.subscription.deleted", created=T0 + 2, sub_id="sub_first",
                 status="canceled")
    # At once, from the stored state of sub_second: no event of sub_second, no Stripe call.
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_second"
    assert group_names(customer) == ["Silver"]
    assert "sub_second" in ended.event.note
    rows = Membership.objects.filter(member=customer)
    assert [(m.source, m.stripe_subscription_id) for m in rows] == [("stripe", "sub_second")]


def test_of_two_other_live_subscriptions_the_newest_is_granted(customer, groups):
    send(created=T0, sub_id="sub_first", prices=["price_gold"])
    send(created=T0 + 1, sub_id="sub_second", prices=["price_silver"])
    send(created=T0 + 2, sub_id="sub_third", prices=["price_gold"])
    send("customer.subscription.deleted", created=T0 + 3, sub_id="sub_first",
         status="canceled")
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_third"
    assert group_names(customer) == ["Gold"]


def test_an_ended_other_subscription_is_not_granted(customer, groups):
    send(created=T0, sub_id="sub_first", prices=["price_gold"])
    send(created=T0 + 1, sub_id="sub_second", prices=["price_silver"])
    send(created=T0 + 2, sub_id="sub_second", status="unpaid", prices=["price_silver"])
    send("customer.subscription.deleted", created=T0 + 3, sub_id="sub_first",
         status="canceled")
    customer.refresh_from_db()
    assert customer.stripe_subscription_id is None
    assert group_names(customer) == []


def test_an_admin_removing_their_grant_leaves_the_paid_one(customer, groups):
    given = Membership.objects.create(member=customer, group=groups["gold"], source="admin")
    send(created=T0, prices=["price_gold"])
    assert group_names(customer) == ["Gold"]

    given.delete()  # the administrator takes back the group they gave by hand
    row = Membership.objects.get(member=customer, group=groups["gold"])
    assert (row.source, row.stripe_subscription_id) == ("stripe", "sub_unit1")
    assert "sub_unit1" in row.reason

    # Removing it through the relation (a queryset delete) keeps it too.
    Membership.objects.filter(pk=row.pk).update(source="admin", stripe_subscription_id="")
    customer.member_groups.remove(groups["gold"])
    assert group_names(customer) == ["Gold"]


def test_an_admin_moving_their_grant_to_another_group_leaves_the_paid_one(customer, groups):
    """The same as taking it back: the row they gave now names another group."""
    given = Membership.objects.create(member=customer, group=groups["gold"], source="admin")
    send(created=T0, prices=["price_gold"])

    given.group = groups["silver"]  # the member editor's group select, changed
    given.save()

    assert group_names(customer) == ["Gold", "Silver"]
    row = Membership.objects.get(member=customer, group=groups["gold"])
    assert (row.source, row.stripe_subscription_id) == ("stripe", "sub_unit1")


def test_a_live_subscription_our_checkout_made_under_another_customer_is_flagged(
        customer, groups, caplog):
    """Two sessions paid before the first webhook, each making its own customer: the
    member pays twice. The second grants nothing (one customer per member) and, as a
    second subscription, is logged for an operator to cancel and refund."""
    send(created=T0, prices=["price_gold"])
    caplog.set_level("WARNING", logger="payments.sync")

    second = send("customer.subscription.created", created=T0 + 1, sub_id="sub_other",
                  customer="cus_other", member_id=customer.pk, prices=["price_silver"])

    assert second.event.status == "ignored"
    assert "is not the member's customer" in second.event.note
    assert group_names(customer) == ["Gold"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (
        f"second_customer member={customer.pk} subscription=sub_other customer=cus_other "
        "stored_customer=cus_unit1 outcome=not_granted action=cancel_it_in_stripe")


def test_an_admin_removing_an_unpaid_group_removes_it(customer, groups):
    Membership.objects.create(member=customer, group=groups["gold"], source="admin")
    send(created=T0, prices=["price_silver"])
    Membership.objects.get(member=customer, group=groups["gold"]).delete()
    assert group_names(customer) == ["Silver"]
    assert Membership.objects.get(member=customer).reason.startswith(
        "By a Stripe subscription")


def test_deleting_a_member_or_group_with_paid_memberships_works(customer, groups):
    Membership.objects.create(member=customer, group=groups["gold"], source="admin")
    send(created=T0, prices=["price_gold"])
    groups["gold"].delete()
    assert not Membership.objects.filter(member=customer).exists()
    customer.delete()
    assert not Membership.objects.exists()


# --- Stripe is asked outside any transaction -----------------------------------------

@pytest.fixture
def paid(transactional_db, stripe_keys_on_emulator, emulator, stripe_client):
    """A member paying in the emulator (which sends no webhooks): ``(member, sub_id, price)``.

    The gateway's guard is on: a Stripe call inside a transaction raises.
    """
    from tests.fixtures.billing import create_recurring_price, pay

    price = create_recurring_price(stripe_client)
    MemberGroup.objects.create(name="Gold", stripe_price_id=price)
    member = Member.objects.create_user("payer@example.com", "payer-pass-123")
    customer = stripe_client.v1.customers.create(params={"email": member.email})
    member.stripe_customer_id = customer.id
    member.save()
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": customer.id,
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": "http://127.0.0.1:9/ok", "cancel_url": "http://127.0.0.1:9/no",
    })
    assert pay(session.url).status_code == 303
    sub_id = stripe_client.v1.checkout.sessions.retrieve(session.id).subscription
    return member, sub_id, price


def _snapshot(stripe_client, sub_id: str) -> dict:
    return stripe_client.v1.subscriptions.retrieve(sub_id).to_dict(for_json=True)


def test_a_same_second_tie_asks_stripe_outside_the_transaction(paid, stripe_client):
    member, sub_id, _ = paid
    truth = _snapshot(stripe_client, sub_id)
    assert deliver(make_event(truth, created=T0)).result == "processed"
    stale = {**truth, "status": "unpaid"}
    tie = deliver(make_event(stale, created=T0, event_id="evt_tie"))

    assert (tie.result, tie.event.error) == ("processed", "")
    assert "fetched from Stripe" in tie.event.note
    assert group_names(member) == ["Gold"]  # Stripe says active, not the stale "unpaid"
    state = SubscriptionState.objects.get(subscription_id=sub_id)
    assert state.fetched_at >= T0 and state.last_event_id == "evt_tie"

    # Not newer than that fetch: settled by Stripe again, still outside the transaction.
    again = deliver(make_event(stale, created=T0 + 1, event_id="evt_not_newer"))
    assert "fetched from Stripe again" in again.event.note
    assert group_names(member) == ["Gold"]


def test_a_held_subscription_unknown_here_is_checked_outside_the_transaction(
    paid, stripe_client
):
    member, sub_id, price = paid
    Member.objects.filter(pk=member.pk).update(stripe_subscription_id=sub_id)  # no state row
    second = make_subscription("sub_second", customer=member.stripe_customer_id,
                               prices=[price])
    outcome = deliver(make_event(second, created=T0))
    assert outcome.result == "ignored"
    assert f"already holds the active subscription {sub_id}" in outcome.event.note
    member.refresh_from_db()
    assert member.stripe_subscription_id == sub_id
