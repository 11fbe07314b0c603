"""Statement budgets: the webhook's (8 per processed event, 3 per duplicate), a checkout's.

The webhook's hold both ways: applied as received, and stored then drained (the inbox).

Counted as the database sees them, transaction control included. Statements and
savepoints pass through a connection ``execute_wrapper``. BEGIN and COMMIT do
not on PostgreSQL: psycopg sends BEGIN by itself before the first statement of
a transaction (Django turns autocommit off) and COMMIT from
``connection.commit()``. So the counter adds a BEGIN for the first statement
run with autocommit off (unless it is SQLite's own ``BEGIN IMMEDIATE``), and a
COMMIT or ROLLBACK when Django ends that transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from django.db import connection

from members.models import Member, MemberGroup, Membership
from tests.fixtures.billing import make_event, make_subscription, post_event

# The budget, for genuine in-order events of a known member.
PROCESSED_BUDGET = 8
DUPLICATE_BUDGET = 3

T0 = int(time.time()) - 1000


@dataclass
class StatementCounter:
    statements: list[str] = field(default_factory=list)
    _open: bool = False

    def __call__(self, execute, sql, params, many, context):
        if sql.upper().startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE: it is visible
            self._open = True
        elif not connection.get_autocommit() and not self._open:
            self._open = True
            self.statements.append("BEGIN")
        self.statements.append(sql)
        return execute(sql, params, many, context)

    def ended(self, word: str) -> None:
        if self._open:
            self._open = False
            self.statements.append(word)


@pytest.fixture
def count_statements(monkeypatch):
    """``with count_statements() as seen:`` — ``seen.statements`` as the server received them."""
    import contextlib

    @contextlib.contextmanager
    def counting():
        counter = StatementCounter()
        commit, rollback = connection.commit, connection.rollback

        def counted_commit():
            commit()
            counter.ended("COMMIT")

        def counted_rollback():
            rollback()
            counter.ended("ROLLBACK")

        monkeypatch.setattr(connection, "commit", counted_commit)
        monkeypatch.setattr(connection, "rollback", counted_rollback)
        with connection.execute_wrapper(counter):
            yield counter
        monkeypatch.undo()

    return counting


@pytest.fixture
def crowd(transactional_db, stripe_settings, request):
    """Many members and priced groups, so a cost that grows with them would show."""
    count = request.param
    MemberGroup.objects.bulk_create(
        MemberGroup(name=f"Plan {i}", stripe_price_id=f"price_plan{i}") for i in range(count))
    Member.objects.bulk_create(
        Member(email=f"m{i}@example.com", stripe_customer_id=f"cus_m{i}") for i in range(count))
    return [f"price_plan{i}" for i in range(count)]


def deliver(client, event) -> str:
    response = post_event(client, event)
    assert response.status_code == 200, response.content
    return response.json()["status"]


def statements_for(client, count_statements, event) -> tuple[str, list[str]]:
    with count_statements() as seen:
        status = deliver(client, event)
    return status, seen.statements


def in_order_stream(prices: list[str]) -> list[dict]:
    """created, a price change, a renewal, past_due, deleted: one member's year."""
    sub = {"sub_id": "sub_budget", "customer": "cus_m1"}
    return [
        make_event(make_subscription(prices=prices, **sub),
                   type="customer.subscription.created", created=T0),
        make_event(make_subscription(prices=prices[::2], **sub), created=T0 + 10),
        make_event(make_subscription(prices=prices[::2], **sub), created=T0 + 20),
        make_event(make_subscription(prices=prices[::2], status="past_due", **sub),
                   created=T0 + 30),
        make_event(make_subscription(prices=prices[::2], status="canceled", **sub),
                   type="customer.subscription.deleted", created=T0 + 40),
    ]


def check_budget(client, count_statements, prices, caplog, *, processed_budget: int,
                 queued: bool = False):
    """Each event of a member's year within the budget, and again as a duplicate.

    ``queued`` (the webhook inbox): the delivery is one statement, then a drain applies
    the event, even one event to a batch; both count against the event's budget.
    """
    from payments.services import inbox

    # Warm this process up the way a worker is after its first request: settings read once.
    deliver(client, make_event(make_subscription("sub_warm", customer="cus_m0"), created=T0))
    if queued:
        inbox.drain()
    member = Member.objects.get(stripe_customer_id="cus_m1")
    with caplog.at_level("INFO", logger="payments.stripe"):
        for event in in_order_stream(prices):
            status, statements = statements_for(client, count_statements, event)
            assert status == ("queued" if queued else "processed")
            if queued:
                assert len(statements) == 1, statements  # the enqueue, in autocommit
                with count_statements() as drain:
                    assert inbox.drain() == 1
                statements += drain.statements
            assert len(statements) <= processed_budget, "\n".join([event["type"], *statements])
            status, statements = statements_for(client, count_statements, event)
            assert status == "duplicate"
            assert len(statements) <= DUPLICATE_BUDGET, statements
            if event["type"] == "customer.subscription.created":
                assert member.memberships.count() == len(prices)
    assert [r for r in caplog.records if r.name == "payments.stripe"] == []  # no Stripe call
    member.refresh_from_db()
    assert member.stripe_subscription_id is None
    assert not Membership.objects.filter(member=member).exists()


@pytest.mark.postgres
@pytest.mark.parametrize("crowd", [3, 60], indirect=True)
def test_postgresql_budget(client, count_statements, crowd, caplog):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    check_budget(client, count_statements, crowd, caplog, processed_budget=PROCESSED_BUDGET)


@pytest.mark.postgres
@pytest.mark.parametrize("crowd", [3, 60], indirect=True)
def test_postgresql_budget_with_the_inbox(client, count_statements, crowd, caplog, settings):
    """STRIPE_WEBHOOK_QUEUE: the delivery, then the drain, even one event to a batch."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    from tests.fixtures.billing import queue_on

    queue_on(settings)
    check_budget(client, count_statements, crowd, caplog, processed_budget=PROCESSED_BUDGET,
                 queued=True)


# SQLite (``make run``) grants through the ORM, a few statements more, but just as
# independent of the number of members and groups.
SQLITE_PROCESSED_BUDGET = 12


@pytest.mark.parametrize("crowd", [3, 60], indirect=True)
def test_sqlite_budget(client, count_statements, crowd, caplog):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite run of the budget")
    check_budget(client, count_statements, crowd, caplog,
                 processed_budget=SQLITE_PROCESSED_BUDGET)


def test_the_counter_sees_transaction_control(transactional_db, count_statements):
    from django.db import transaction

    with count_statements() as seen:
        Member.objects.count()
        with transaction.atomic():
            Member.objects.count()
            with transaction.atomic():
                Member.objects.count()
    words = [s.split()[0].upper() for s in seen.statements]
    assert words == ["SELECT", "BEGIN", "SELECT", "SAVEPOINT", "SELECT", "RELEASE", "COMMIT"]


# --- A checkout ------------------------------------------------------------------------
# Sign-in and routing (session, member, endpoint) and the three steps: step 1 in one
# transaction (BEGIN, the lock with the settings' version and the linked prices, the
# member's intents read and the new one added in one statement, COMMIT), the Stripe
# call, step 3 in one statement.
CHECKOUT_BUDGET = 8


@pytest.fixture
def stripe_log(emulator, stripe_enabled):
    from .emulator_requests import watch

    return watch(emulator)


@pytest.mark.postgres
def test_a_checkout_budget(client, count_statements, checkout_api, member, stripe_log):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    from payments.models import CheckoutIntent, StripeSettings

    client.force_login(member)
    url = f"/rcms-api/{checkout_api.pk}/stripe/checkout"
    origin = {"HTTP_ORIGIN": "http://testserver"}
    StripeSettings.load()  # a worker after its first request: settings read once
    stripe_log.clear()
    with count_statements() as seen:
        response = client.post(url, {}, content_type="application/json", **origin)
    assert response.status_code == 200, response.content
    assert response.json()["url"] == CheckoutIntent.objects.get(member=member).url
    assert stripe_log.calls() == ["POST /v1/checkout/sessions"]
    assert len(seen.statements) <= CHECKOUT_BUDGET, "\n".join(seen.statements)
