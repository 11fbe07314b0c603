"""The gateway's errors and logs, and the functions the admin calls (setup checks, links,
subscription summary, reconcile_member), against the emulator."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError

from members.models import Member, MemberGroup
from payments import gateway
from payments.links import dashboard_url
from payments.models import WEBHOOK_EVENTS, StripeSettings, SubscriptionState
from payments.services.reconcile import reconcile_member
from payments.services.subscriptions import subscription_summary
from payments.setup_checks import check_setup, validate_group_price
from tests.fixtures.billing import WEBHOOK_PATH, create_recurring_price, pay

pytestmark = pytest.mark.django_db(transaction=True)


# --- gateway ------------------------------------------------------------------

def test_each_call_logs_one_line_without_secrets(stripe_enabled, caplog):
    with caplog.at_level(logging.INFO, logger="payments.stripe"):
        account = gateway.retrieve_account()
    assert account["id"].startswith("acct_")
    lines = [r.getMessage() for r in caplog.records if r.name == "payments.stripe"]
    assert len(lines) == 1
    line = lines[0]
    for part in ("method=GET", "resource=/v1/account", "outcome=ok", "status=200",
                 "duration_ms=", "request_id=req_"):
        assert part in line
    assert "sk_" not in line


def test_bad_key_is_unavailable_not_the_callers_fault(stripe_enabled):
    config = StripeSettings.load()
    config.secret_key = "sk_test_wrong_key_123"
    config.save()
    with pytest.raises(gateway.StripeUnavailable) as caught:
        gateway.retrieve_account()
    assert caught.value.message == "Stripe refused this site's API key."
    assert "sk_test" not in str(caught.value)


def test_not_configured(db):
    config = StripeSettings.load()
    with pytest.raises(gateway.StripeNotConfigured, match="disabled"):
        gateway.retrieve_account()
    config.enabled = True
    config.save()
    with pytest.raises(gateway.StripeNotConfigured, match="No Stripe secret key"):
        gateway.retrieve_account()


def test_invalid_request_keeps_param_and_a_safe_message(stripe_enabled):
    with pytest.raises(gateway.StripeInvalidRequest) as caught:
        gateway.retrieve_price("price_doesnotexist")
    assert caught.value.is_missing
    assert "price_doesnotexist" in caught.value.message


@pytest.mark.parametrize("raw", [
    "Invalid API Key provided: sk_test_abcdef",
    "No such customer for jane@example.com",
    "Bad secret whsec_abc123",
])
def test_unsafe_stripe_messages_become_generic(raw):
    assert gateway.safe_message(raw) == gateway.GENERIC_REJECTION


def test_unreachable_stripe(stripe_enabled, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    with pytest.raises(gateway.StripeUnavailable, match="could not be reached"):
        gateway.retrieve_account()


def test_idempotent_session_creation(stripe_enabled, basic_price):
    price_id, _ = basic_price
    params = {"mode": "subscription", "line_items": [{"price": price_id, "quantity": 1}],
              "success_url": "https://example.com/thanks"}
    first = gateway.create_checkout_session(params, idempotency_key="kb-test-1")
    again = gateway.create_checkout_session(params, idempotency_key="kb-test-1")
    assert first["id"] == again["id"]
    assert len(stripe_enabled.client.v1.checkout.sessions.list().data) == 1


# --- setup checks -------------------------------------------------------------------

def test_check_setup_all_good(stripe_enabled, basic_price):
    webhook_url = stripe_enabled.site_url + WEBHOOK_PATH
    results = check_setup(StripeSettings.load(), webhook_url)
    assert [r.level for r in results] == ["success", "success", "success"], results
    assert "secret key works" in results[0].message
    assert webhook_url in results[1].message
    assert "Gold" in results[2].message


def test_check_setup_finds_the_problems(stripe_enabled, basic_price):
    client = stripe_enabled.client
    product = client.v1.products.create(params={"name": "One-off"})
    one_time = client.v1.prices.create(params={"product": product.id, "currency": "usd",
                                               "unit_amount": 100})
    MemberGroup.objects.create(name="Ebook", stripe_price_id=one_time.id)
    MemberGroup.objects.create(name="Ghost", stripe_price_id="price_missing")
    results = check_setup(StripeSettings.load(), "https://elsewhere.example/direct/stripe/webhook/")
    messages = {r.message: r.level for r in results}
    assert messages["No Stripe webhook endpoint sends to "
                    "https://elsewhere.example/direct/stripe/webhook/."] == "error"
    assert any(m.startswith("Group Ebook") and "one-time" in m and lvl == "error"
               for m, lvl in messages.items())
    assert messages["Group Ghost: price price_missing does not exist."] == "error"
    assert any(m.startswith("Group Gold") and lvl == "success" for m, lvl in messages.items())


@pytest.mark.emulator_options(allow_remote_webhooks=True)
def test_check_setup_webhook_missing_events(stripe_enabled):
    url = "https://partial.example/direct/stripe/webhook/"
    stripe_enabled.client.v1.webhook_endpoints.create(params={
        "url": url, "enabled_events": [WEBHOOK_EVENTS[0]]})
    results = check_setup(StripeSettings.load(), url)
    webhook = next(r for r in results if url in r.message)
    assert webhook.level == "error"
    assert "customer.subscription.deleted" in webhook.message


def test_check_setup_never_raises(stripe_enabled):
    config = StripeSettings.load()
    config.secret_key = "sk_test_wrong"
    results = check_setup(config, "https://x.example/")
    assert [r.level for r in results] == ["error"]
    assert "sk_test_wrong" not in results[0].message
    stripe_enabled.fault("/v1/account", method="GET", mode="500")
    assert check_setup(StripeSettings.load(), "https://x.example/")[0].level == "error"


def test_validate_group_price(stripe_enabled):
    client = stripe_enabled.client
    assert validate_group_price(create_recurring_price(client)) is None
    product = client.v1.products.create(params={"name": "One-off"})
    one_time = client.v1.prices.create(params={"product": product.id, "currency": "usd",
                                               "unit_amount": 100})
    with pytest.raises(ValidationError, match="One-time purchases are not supported"):
        validate_group_price(one_time.id)
    with pytest.raises(ValidationError, match="No such price"):
        validate_group_price("price_nope")
    inactive = create_recurring_price(client)
    client.v1.prices.update(inactive, params={"active": False})
    with pytest.raises(ValidationError, match="not active"):
        validate_group_price(inactive)
    stripe_enabled.fault("/v1/prices", method="GET", mode="500")
    warning = validate_group_price(create_recurring_price(client))
    assert warning and "could not be checked" in warning


def test_validate_group_price_when_not_configured(db):
    assert "not configured" in validate_group_price("price_123")


# --- links ----------------------------------------------------------------------

def test_dashboard_url(db, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:12111"
    assert dashboard_url("customers", "cus_1") == "http://127.0.0.1:12111/customers/cus_1"
    settings.STRIPE_API_BASE = ""
    config = StripeSettings.load()
    config.secret_key = "sk_test_x"
    config.save()
    assert dashboard_url("subscriptions", "sub_1") == \
        "https://dashboard.stripe.com/test/subscriptions/sub_1"
    config.secret_key = "sk_live_x"
    config.publishable_key = "pk_live_x"
    config.save()
    assert dashboard_url("customers", "cus_1") == "https://dashboard.stripe.com/customers/cus_1"
    with pytest.raises(ValueError):
        dashboard_url("invoices", "in_1")  # type: ignore[arg-type]


# --- subscription summary and reconcile_member --------------------------------------

def _subscribed(stripe_enabled, member, price_id: str) -> str:
    """A subscription paid on the hosted page, for a session made straight in Stripe."""
    client = stripe_enabled.client
    customer = client.v1.customers.create(params={"email": member.email})
    Member.objects.filter(pk=member.pk).update(stripe_customer_id=customer.id)
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": customer.id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": "https://example.com/ok", "cancel_url": "https://example.com/no",
        "subscription_data": {"metadata": {"member_id": str(member.pk)}}})
    assert pay(session.url).status_code == 303
    return client.v1.checkout.sessions.retrieve(session.id).subscription


def test_subscription_summary(stripe_enabled, basic_price, member):
    assert subscription_summary(member) is None
    sub_id = _subscribed(stripe_enabled, member, basic_price[0])
    stripe_enabled.drain()
    member.refresh_from_db()
    summary = subscription_summary(member)
    assert summary["subscription_id"] == sub_id
    assert summary["status"] == "active"
    assert summary["price_ids"] == [basic_price[0]]
    assert summary["current_period_end"] is not None

    # Without a stored state it asks Stripe; when Stripe fails it still answers.
    SubscriptionState.objects.all().delete()
    assert subscription_summary(member)["status"] == "active"
    stripe_enabled.fault(f"/v1/subscriptions/{sub_id}", method="GET", mode="500")
    failed = subscription_summary(member)
    assert failed["status"] == "unknown" and failed["error"]


def test_reconcile_member_reports_and_repairs(stripe_enabled, basic_price, member):
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})
    sub_id = _subscribed(stripe_enabled, member, basic_price[0])
    member.refresh_from_db()
    dry = reconcile_member(member, dry_run=True)
    assert dry.changes == ["added to group Gold", f"subscription ID none → {sub_id}"]
    assert dry.errors == []
    assert not member.memberships.exists()

    report = reconcile_member(member)
    assert report.changes == dry.changes
    member.refresh_from_db()
    assert member.stripe_subscription_id == sub_id
    assert [g.name for g in member.member_groups.all()] == ["Gold"]
    assert reconcile_member(member).changes == []


# --- no Stripe call while a transaction is open ------------------------------------

def test_a_stripe_call_inside_a_transaction_is_refused(stripe_enabled):
    from django.db import transaction

    with pytest.raises(gateway.StripeCallInTransaction, match="GET /v1/account"), \
            transaction.atomic():
        gateway.retrieve_account()
    # Outside any transaction of ours (the test's own wrapping one does not count).
    assert gateway.retrieve_account()["id"].startswith("acct_")


def test_the_test_cases_own_transaction_does_not_count(stripe_settings, emulator, settings):
    # pytest-django's ``db`` wraps the test in an atomic block marked _from_testcase.
    settings.STRIPE_API_BASE = emulator.url
    stripe_settings.secret_key = emulator.secret_key
    stripe_settings.save()
    assert gateway.retrieve_account()["id"].startswith("acct_")
