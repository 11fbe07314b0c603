"""Every object the emulator sends validates against Stripe's schema for 2026-10-28.endive.

A realistic flow runs over HTTP with the official SDK while the test harness records every
JSON answer; then each answer, and each event the emulator produced, is checked.
"""

from __future__ import annotations

import pytest
import requests

from .fidelity import check, require_schema
from .helpers import DAY, FAIL_LATER, GOOD, Receiver, monthly_price, pay, subscription_session


@pytest.fixture(autouse=True)
def _schema_present():
    require_schema()


def _check(answers, emulator):
    unique = check(answers, emulator.emulator.store.all("event"))
    assert not unique, "\n".join(unique)


def test_a_checkout_flow_sends_only_valid_objects(emulator, stripe_client):
    client = stripe_client
    receiver = Receiver()
    try:
        with emulator.recording() as answers:
            client.v1.webhook_endpoints.create(params={"url": receiver.url,
                                                       "enabled_events": ["*"]})
            client.v1.webhook_endpoints.list()
            customer = client.v1.customers.create(params={"email": "a@example.com",
                                                          "name": "A"})
            client.v1.customers.update(customer.id, params={"metadata": {"k": "v"}})
            product = client.v1.products.create(params={"name": "Silver"})
            client.v1.products.update(product.id, params={"description": "Silver plan"})
            price = client.v1.prices.create(params={
                "product": product.id, "currency": "jpy", "unit_amount": 500,
                "recurring": {"interval": "month"}})
            gold = monthly_price(client, 1000, "Gold")
            client.v1.prices.list()
            client.v1.products.list()
            session = subscription_session(client, gold.id)
            assert pay(session.url).status_code == 303
            client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
            client.v1.checkout.sessions.list()
            client.v1.checkout.sessions.line_items.list(session.id)
            one_off = client.v1.checkout.sessions.create(params={
                "mode": "payment", "success_url": "http://127.0.0.1:9/ok",
                "line_items": [{"price_data": {"currency": "jpy", "unit_amount": 300,
                                               "product_data": {"name": "Book"}},
                                "quantity": 1}]})
            client.v1.checkout.sessions.expire(one_off.id)
            session = client.v1.checkout.sessions.retrieve(session.id)
            sub = client.v1.subscriptions.retrieve(session.subscription,
                                                   params={"expand": ["latest_invoice"]})
            client.v1.subscriptions.list(params={"status": "all"})
            emulator.advance(32 * DAY)
            client.v1.invoices.list(params={"subscription": sub.id})
            client.v1.invoices.retrieve(client.v1.invoices.list().data[0].id)
            client.v1.subscriptions.cancel(sub.id)
            second = subscription_session(client, price.id)
            assert pay(second.url, FAIL_LATER).status_code == 303
            emulator.advance(40 * DAY)  # renewal fails, retries, then unpaid
            client.v1.customers.delete(customer.id)
            client.v1.customers.retrieve(customer.id)
            client.v1.events.list(params={"limit": 100})
            client.v1.accounts.retrieve_current()
            client.v1.balance.retrieve()
            emulator.drain()
            for event in receiver.events():
                answers.append(("WEBHOOK", receiver.url, event))
        _check(answers, emulator)
        assert len(answers) > 30
    finally:
        receiver.close()


def test_hosted_checkout_is_hosted_page(stripe_client):
    """2026-10-28.endive calls hosted Checkout ``hosted_page``; ``hosted`` is still accepted."""
    price = monthly_price(stripe_client)
    default = subscription_session(stripe_client, price.id)
    legacy = subscription_session(stripe_client, price.id, ui_mode="hosted")
    explicit = subscription_session(stripe_client, price.id, ui_mode="hosted_page")
    assert [default.ui_mode, legacy.ui_mode, explicit.ui_mode] == ["hosted_page"] * 3
    with pytest.raises(Exception) as caught:
        subscription_session(stripe_client, price.id, ui_mode="popup")
    assert "ui_mode" in str(caught.value)


def test_the_portal_flow_sends_only_valid_objects(emulator, stripe_client):
    client = stripe_client
    with emulator.recording() as answers:
        monthly = monthly_price(client, 1000, "Monthly")
        yearly = monthly_price(client, 10000, "Yearly", interval="year")
        session = subscription_session(client, monthly.id)
        assert pay(session.url, FAIL_LATER).status_code == 303
        session = client.v1.checkout.sessions.retrieve(session.id)
        customer_id = session.customer
        config = client.v1.billing_portal.configurations.create(params={
            "features": {
                "subscription_update": {
                    "enabled": True, "default_allowed_updates": ["price"],
                    "products": [{"product": monthly.product, "prices": [monthly.id]},
                                 {"product": yearly.product, "prices": [yearly.id]}]},
                "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
                "payment_method_update": {"enabled": True},
                "invoice_history": {"enabled": True}},
            "business_profile": {"headline": "Kuroco members"}})
        client.v1.billing_portal.configurations.update(config.id, params={
            "default_return_url": "http://127.0.0.1:9/back"})
        client.v1.billing_portal.configurations.list()
        client.v1.billing_portal.configurations.retrieve(config.id)
        portal = client.v1.billing_portal.sessions.create(params={
            "customer": customer_id, "configuration": config.id,
            "return_url": "http://127.0.0.1:9/account"})
        page = requests.get(portal.url, timeout=10)
        assert page.status_code == 200
        sub = client.v1.subscriptions.retrieve(session.subscription)
        client.v1.subscriptions.update(sub.id, params={
            "items": [{"id": sub["items"].data[0].id, "price": yearly.id}],
            "proration_behavior": "always_invoice"})
        client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
        client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
        pm = client.v1.payment_methods.create(params={
            "type": "card", "card": {"number": GOOD.replace(" ", ""), "exp_month": 12,
                                     "exp_year": 2034, "cvc": "123"}})
        client.v1.payment_methods.attach(pm.id, params={"customer": customer_id})
        client.v1.customers.update(customer_id, params={
            "invoice_settings": {"default_payment_method": pm.id}})
        client.v1.payment_methods.list(params={"customer": customer_id})
        client.v1.customers.payment_methods.list(customer_id)
        client.v1.payment_methods.retrieve(pm.id)
        client.v1.invoices.list(params={"customer": customer_id})
        client.v1.events.list(params={"limit": 100})
    _check(answers, emulator)
