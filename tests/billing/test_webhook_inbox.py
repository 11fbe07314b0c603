"""The webhook inbox (STRIPE_WEBHOOK_QUEUE): answered once stored, applied by a drain.

What Stripe sees (the answers), what is stored before the drain, and what the drain
does with failures: nothing is lost, a failed event is retried without Stripe.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from members.models import MemberGroup
from payments.models import StripeSettings, WebhookEvent
from payments.services import drainers, inbox
from tests.fixtures.billing import (
    UNIT_WEBHOOK_SECRET,
    heal_sql,
    make_event,
    make_subscription,
    post_event,
    queue_on,
    refuse_state_sql,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inbox")]


def groups(member) -> list[str]:
    return sorted(member.member_groups.values_list("name", flat=True))


def row(event: dict) -> WebhookEvent:
    return WebhookEvent.objects.get(event_id=event["id"])


def test_a_delivery_is_answered_once_stored_and_applied_by_the_drain(client, customer, gold):
    event = make_event(make_subscription())

    response = post_event(client, event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "status": "queued"}
    assert (row(event).status, row(event).attempts) == ("received", 1)
    assert groups(customer) == []  # not applied yet

    assert inbox.drain() == 1
    assert (row(event).status, row(event).member, row(event).error) == (
        "processed", customer, "")
    assert groups(customer) == ["Gold"]
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_unit1"


def test_a_redelivery_is_stored_once(client, customer, gold):
    event = make_event(make_subscription())
    post_event(client, event)

    assert post_event(client, event).json()["status"] == "queued"  # still waiting
    inbox.drain()
    assert post_event(client, event).json()["status"] == "duplicate"
    assert WebhookEvent.objects.filter(event_id=event["id"]).count() == 1
    assert inbox.drain() == 0


@pytest.mark.parametrize("kind", ["livemode", "type"])
def test_an_event_to_ignore_is_settled_on_arrival(client, customer, gold, kind):
    event = make_event(make_subscription(), livemode=kind == "livemode")
    if kind == "type":
        event["type"] = "invoice.paid"

    assert post_event(client, event).json()["status"] == "ignored"

    stored = row(event)
    assert stored.status == "ignored" and stored.processed_at is not None
    assert ("live mode" if kind == "livemode" else "not handled") in stored.note
    assert inbox.drain() == 0
    assert groups(customer) == []


def test_a_secret_removed_in_another_process_stores_nothing(client, customer, gold):
    post_event(client, make_event(make_subscription(), created=1_700_000_000))  # now cached
    StripeSettings.objects.filter(pk=1).update(updated_at=timezone.now(),
                                               webhook_secret="whsec_replacement")

    stale = make_event(make_subscription(), created=1_700_000_100)
    response = post_event(client, stale, UNIT_WEBHOOK_SECRET)

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "No signature matches a configured webhook secret.")
    assert not WebhookEvent.objects.filter(event_id=stale["id"]).exists()
    fresh = make_event(make_subscription(), created=1_700_000_200)
    assert post_event(client, fresh, "whsec_replacement").json()["status"] == "queued"


@pytest.mark.parametrize("status", ["processed", "failed"])
def test_a_stored_event_resent_with_a_removed_secret_is_refused(client, customer, gold,
                                                               status):
    """As without the inbox: the secret a delivery was signed with is checked against
    the stored settings, even when the event is stored already."""
    event = make_event(make_subscription())
    post_event(client, event)  # stored, and the settings cached
    inbox.drain()
    WebhookEvent.objects.filter(event_id=event["id"]).update(status=status)
    StripeSettings.objects.filter(pk=1).update(updated_at=timezone.now(),
                                               webhook_secret="whsec_replacement")

    response = post_event(client, event, UNIT_WEBHOOK_SECRET)

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "No signature matches a configured webhook secret.")
    assert (row(event).status, row(event).attempts) == (status, 1)  # not queued again
    assert post_event(client, event, "whsec_replacement").json()["status"] == (
        "duplicate" if status == "processed" else "queued")


def test_the_event_log_keeps_the_body_byte_for_byte_as_stripe_sent_it(client, customer, gold):
    """Stored as sent (PostgreSQL's json, not jsonb): no second encoding of the body, and
    what the log shows is what was signed; the drain still reads it as JSON."""
    event = make_event(make_subscription())
    body = json.dumps(event, indent=1, ensure_ascii=True).replace(": ", ":  ") + "\n"
    body = body.replace('"status"', '"\\u0073tatus"')  # an escape jsonb would decode

    assert post_event(client, body.encode()).json()["status"] == "queued"

    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text FROM payments_webhookevent WHERE event_id = %s",
                       [event["id"]])
        assert cursor.fetchone()[0] == body
    assert row(event).payload == event
    assert inbox.drain() == 1
    assert (row(event).status, groups(customer)) == ("processed", ["Gold"])


@pytest.mark.parametrize("escaped", ["\\\\u0000", "\\\\\\\\u0000"])
def test_a_backslash_before_u0000_is_text_not_a_nul_and_is_stored(client, customer, gold,
                                                                  escaped):
    event = make_event(make_subscription())
    body = json.dumps({**event, "description": "x"}).replace('"x"', f'"{escaped}"')
    assert json.loads(body)["description"].endswith("u0000")

    assert post_event(client, body.encode()).json()["status"] == "queued"
    assert inbox.drain() == 1
    assert row(event).status == "processed"


def test_a_value_the_database_refuses_is_a_400_and_stores_nothing(client, customer, gold):
    event = make_event(make_subscription())
    event["description"] = "nul \u0000 byte"  # PostgreSQL stores no NUL in jsonb

    response = post_event(client, event)

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "The event holds a value the database cannot store.")
    assert not WebhookEvent.objects.exists()


@pytest.fixture
def failing_subscription(db):
    """The database refuses sub_boom's state row (a trigger): a real failure."""
    with connection.cursor() as cursor:
        cursor.execute(refuse_state_sql("sub_boom"))

    def heal():
        with connection.cursor() as cursor:
            cursor.execute(heal_sql())

    yield heal
    heal()


def queue_a_good_and_a_failing_event(client, other_member) -> tuple[dict, dict]:
    """Two queued events; the second one's state row the database refuses."""
    other_member.stripe_customer_id = "cus_unit2"
    other_member.save()
    good = make_event(make_subscription())
    boom = make_event(make_subscription("sub_boom", customer="cus_unit2"))
    post_event(client, good)
    post_event(client, boom)
    return good, boom


def test_a_failing_event_fails_alone_and_is_retried_later(client, customer, gold, other_member,
                                                          failing_subscription):
    good, boom = queue_a_good_and_a_failing_event(client, other_member)

    assert inbox.drain() == 2

    # The batch failed as a whole; one by one, the good event was applied anyway.
    assert row(good).status == "processed" and groups(customer) == ["Gold"]
    failed = row(boom)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert "the disk is full (a test)" in failed.error
    # Not retried before its wait (2 minutes after a first failure) is over.
    assert inbox.drain() == 0

    failing_subscription()  # the disk has room again
    WebhookEvent.objects.filter(pk=failed.pk).update(
        processed_at=timezone.now() - timedelta(minutes=3))
    assert inbox.drain() == 1
    assert (row(boom).status, row(boom).attempts, row(boom).error) == ("processed", 2, "")
    assert groups(other_member) == ["Gold"]


@pytest.mark.django_db(transaction=True)
def test_events_left_to_the_one_event_path_are_not_taken_by_another_drain(
        client, customer, gold, other_member, failing_subscription, monkeypatch):
    """A failed batch leaves its events to the one-event path, outside the claim's
    transaction: another drain (another process's thread) must leave them, or the
    failing event is tried twice in one round and the two drains can deadlock."""
    good, boom = queue_a_good_and_a_failing_event(client, other_member)
    other_drain: list[int] = []
    started = threading.Event()
    apply_one = inbox._apply_one

    def another_drain_runs_meanwhile(event: dict) -> None:  # a probe, not a stand-in
        if not started.is_set():
            started.set()

            def drain() -> None:
                try:
                    other_drain.append(inbox.drain())
                finally:
                    connections.close_all()

            thread = threading.Thread(target=drain)
            thread.start()
            thread.join(30)
        apply_one(event)

    monkeypatch.setattr(inbox, "_apply_one", another_drain_runs_meanwhile)
    assert inbox.drain() == 2

    assert other_drain == [0]
    assert row(good).status == "processed"
    assert (row(boom).status, row(boom).attempts) == ("failed", 1)  # tried once
    # Settled: the next drain may take it again once its wait is over.
    assert row(boom).claimed_until is None


@pytest.mark.django_db(transaction=True)
def test_a_transient_database_error_one_by_one_keeps_nothing_claimed(
        client, customer, gold, other_member):
    """A deadlock (an OperationalError, which nothing records on the event) stops the
    one-by-one round: the events it had not settled are left for the next drain at
    once, not kept claimed for CLAIM_SECONDS."""
    from django.db import OperationalError

    with connection.cursor() as cursor:
        cursor.execute(refuse_state_sql("sub_boom", errcode="40P01"))
    good, boom = queue_a_good_and_a_failing_event(client, other_member)
    later = make_event(make_subscription("sub_later", customer="cus_unit1"))
    post_event(client, later)
    try:
        with pytest.raises(OperationalError):
            inbox.drain()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(heal_sql())

    assert [row(e).status for e in (good, boom, later)] == ["processed", "received",
                                                            "received"]
    assert row(boom).claimed_until is None and row(later).claimed_until is None
    assert inbox.drain() == 2  # the next round takes them at once


def test_stripe_sending_a_failed_event_again_retries_it_at_once(client, customer, gold,
                                                               other_member,
                                                               failing_subscription):
    other_member.stripe_customer_id = "cus_unit2"
    other_member.save()
    boom = make_event(make_subscription("sub_boom", customer="cus_unit2"))
    post_event(client, boom)
    inbox.drain()
    assert row(boom).status == "failed"

    failing_subscription()
    assert post_event(client, boom).json()["status"] == "queued"
    assert inbox.drain() == 1
    # The resent delivery's try is the second, as when Stripe resends to the inline path.
    assert (row(boom).status, row(boom).attempts) == ("processed", 2)


def test_a_failed_event_is_retried_for_about_three_days_then_left_to_the_admin(
        client, customer, gold, other_member, failing_subscription):
    other_member.stripe_customer_id = "cus_unit2"
    other_member.save()
    boom = make_event(make_subscription("sub_boom", customer="cus_unit2"))
    post_event(client, boom)
    inbox.drain()
    schedule = timedelta(0)  # the waits, each seen kept a minute short and taken a minute over
    for attempt in range(2, inbox.MAX_ATTEMPTS + 1):
        wait = timedelta(minutes=min(2 ** (attempt - 1), 1440))  # 2, 4, 8 … minutes, ≤ a day
        failed_ago(boom, wait - timedelta(minutes=1))
        assert inbox.drain() == 0
        failed_ago(boom, wait + timedelta(minutes=1))
        assert inbox.drain() == 1
        assert (row(boom).status, row(boom).attempts) == ("failed", attempt)
        schedule += wait
    failed_ago(boom, timedelta(days=30))
    assert inbox.drain() == 0  # given up: the admin's "Reprocess" remains
    assert timedelta(days=2.5) < schedule < timedelta(days=3.5)


def failed_ago(event: dict, ago: timedelta) -> None:
    WebhookEvent.objects.filter(event_id=event["id"]).update(processed_at=timezone.now() - ago)


def test_the_drain_command(client, customer, gold, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    post_event(client, make_event(make_subscription()))
    out = StringIO()
    call_command("drain_webhooks", stdout=out)
    assert out.getvalue().strip() == "1 webhook event(s) applied."
    assert groups(customer) == ["Gold"]

    settings.STRIPE_WEBHOOK_QUEUE = False
    with pytest.raises(CommandError, match="STRIPE_WEBHOOK_QUEUE is off"):
        call_command("drain_webhooks", "--forever")


@pytest.mark.parametrize("interval", ["-5", "0", "nan", "soon"])
def test_drain_forever_refuses_an_interval_it_would_never_wait(interval):
    """Zero, negative or NaN: the loop would drain without a pause, for ever."""
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"--interval: .* is not a number of seconds"):
        call_command("drain_webhooks", "--forever", "--interval", interval)


def test_events_queued_before_the_inbox_was_turned_off_are_drained_once(
        client, customer, gold, settings):
    """Turned off with events still waiting (answered 200: Stripe will not resend them):
    one drain_webhooks applies them, and says that nothing new will be queued."""
    from io import StringIO

    from django.core.management import call_command

    event = make_event(make_subscription())
    post_event(client, event)
    settings.STRIPE_WEBHOOK_QUEUE = False
    out = StringIO()
    call_command("drain_webhooks", stdout=out)

    assert out.getvalue().splitlines() == [
        "STRIPE_WEBHOOK_QUEUE is off: draining what was queued before.",
        "1 webhook event(s) applied."]
    assert (row(event).status, groups(customer)) == ("processed", ["Gold"])


@pytest.mark.django_db(transaction=True)
def test_each_process_drains_by_itself_after_a_delivery(client, customer, gold, settings,
                                                        monkeypatch):
    """The drainer thread (STRIPE_WEBHOOK_DRAIN_IN_WORKERS): no command needed."""
    gc.unfreeze()
    monkeypatch.setattr(drainers, "_frozen_in", None)  # as in a new worker process
    queue_on(settings)
    settings.STRIPE_WEBHOOK_DRAIN_IN_WORKERS = True
    settings.STRIPE_WEBHOOK_BATCH_DELAY_MS = 0
    events = [make_event(make_subscription(), created=1_700_000_000 + n) for n in range(3)]
    try:
        assert [post_event(client, e).json()["status"] for e in events] == ["queued"] * 3
        deadline = time.monotonic() + 10
        while WebhookEvent.objects.filter(status="received").exists():
            assert time.monotonic() < deadline, "the drainer thread did not apply the events"
            time.sleep(0.02)
        # Its start-up heap set aside from the collector, before its first drain.
        assert gc.get_freeze_count() > 10_000
    finally:
        drainers.DRAINER.stop()
        gc.unfreeze()
    assert [row(e).status for e in events] == ["processed"] * 3
    assert groups(customer) == ["Gold"]


@pytest.mark.django_db(transaction=True)
def test_an_idle_drainer_thread_retries_a_failed_event_when_its_wait_is_over(
        client, customer, gold, settings):
    queue_on(settings)
    settings.STRIPE_WEBHOOK_DRAIN_IN_WORKERS = True
    settings.STRIPE_WEBHOOK_IDLE_ROUND_SECONDS = 0.1
    event = make_event(make_subscription())
    try:
        drainers.DRAINER.wake()  # the thread runs, finds nothing, goes idle
        time.sleep(0.3)
        # A failed event, its wait over; no delivery comes to wake anyone.
        WebhookEvent.objects.create(
            event_id=event["id"], type=event["type"], created=timezone.now(),
            payload=event, status="failed", attempts=1, error="Stripe could not be reached",
            processed_at=timezone.now() - timedelta(minutes=3))
        deadline = time.monotonic() + 10
        while row(event).status == "failed":
            assert time.monotonic() < deadline, "the idle round did not retry it"
            time.sleep(0.05)
    finally:
        drainers.DRAINER.stop()
    assert (row(event).status, row(event).attempts, row(event).error) == ("processed", 2, "")
    assert groups(customer) == ["Gold"]


def test_one_subscription_of_two_members_in_a_batch_goes_one_by_one(
        client, customer, gold, other_member, caplog):
    """Rare and odd (Stripe moves no subscription between customers): the batch leaves
    it to the one-event path whole, with a note in the log, not an error."""
    other_member.stripe_customer_id = "cus_unit2"
    other_member.save()
    first = make_event(make_subscription("sub_shared", status="canceled"),
                       type="customer.subscription.deleted", created=1_700_000_000)
    second = make_event(make_subscription("sub_shared", customer="cus_unit2"),
                        created=1_700_000_010)
    post_event(client, first)
    post_event(client, second)

    with caplog.at_level("INFO", logger="payments.webhooks"):
        assert inbox.drain() == 2

    assert [row(first).status, row(second).status] == ["processed", "processed"]
    assert row(second).note == "Subscription already deleted; deletion is final."
    assert "webhook_batch_one_by_one reason=one subscription, two members" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_batch_builds_while_deliveries_come_and_wakes_once_per_quiet_window(settings):
    """A burst wakes the drainer once per quiet window, not once per delivery."""
    settings.STRIPE_WEBHOOK_BATCH_DELAY_MS = 400
    asked: list[float] = []
    started = time.monotonic()

    def arrived() -> bool:  # a delivery every millisecond for 150 ms, then a pause
        asked.append(time.monotonic())
        return asked[-1] - started < 0.15

    drainers._build_batch(arrived)
    took = time.monotonic() - started
    assert 0.15 <= took < 0.3, "it should wait out the burst and stop at the pause"
    assert len(asked) <= took / drainers.QUIET_SECONDS + 1

    asked.clear()
    started = time.monotonic()
    drainers._build_batch(lambda: asked.append(0) or True)  # deliveries never pause
    assert 0.4 <= time.monotonic() - started < 0.6, "the batch delay bounds the wait"
    assert len(asked) <= 0.4 / drainers.QUIET_SECONDS + 1


def test_a_customer_first_named_by_an_event_left_to_the_one_event_path_leads_the_later_ones(
        client, member, gold, stripe_settings):
    """A member known by metadata alone, left to the one-event path (a same-second tie);
    their next event names their customer, and another subscription of that customer
    follows in the batch: it waits its turn after theirs, as the one-event path orders
    them, and is not settled first as "no member has this customer"."""
    silver = MemberGroup.objects.create(name="Silver", stripe_price_id="price_silver")
    t0 = int(time.time()) - 5000

    def event(sub_id, created, kind="updated", **sub):
        return make_event(make_subscription(sub_id, **sub), created=created,
                          type=f"customer.subscription.{kind}",
                          event_id=f"evt_{sub_id}_{kind}_{created}")

    post_event(client, event("sub_s1", t0, "created", customer=None, member_id=member.pk))
    inbox.drain()
    later = [
        # A tie: one by one (no Stripe here to settle it: it fails, to be retried).
        event("sub_s1", t0, customer=None, member_id=member.pk),
        event("sub_s1", t0 + 1, customer="cus_new", member_id=member.pk),
        event("sub_s2", t0 + 2, "created", customer="cus_new", prices=["price_silver"]),
        event("sub_s1", t0 + 3, "deleted", customer="cus_new", member_id=member.pk,
              status="canceled"),
    ]
    for each in later:
        post_event(client, each)

    inbox.drain()

    member.refresh_from_db()
    second = row(later[2])
    assert (second.status, second.member_id) == ("ignored", member.pk)
    assert "second subscription sub_s2" in second.note
    # The held one ended: the member's other live subscription took over at once.
    assert (member.stripe_customer_id, member.stripe_subscription_id) == ("cus_new", "sub_s2")
    assert groups(member) == [silver.name]
