"""The Billing Portal: configurations and sessions over the SDK, and the hosted page."""

from __future__ import annotations

import re

import pytest
import requests
import stripe

from .helpers import (
    DAY,
    DECLINE,
    FAIL_LATER,
    GOOD,
    card_form,
    monthly_price,
    pay,
    subscription_session,
)

RETURN = "http://127.0.0.1:9/account"


def _subscribe(client, price, card=GOOD):
    session = subscription_session(client, price.id)
    assert pay(session.url, card).status_code == 303
    session = client.v1.checkout.sessions.retrieve(session.id)
    return client.v1.subscriptions.retrieve(session.subscription)


def _config(client, prices, mode="at_period_end", proration="create_prorations"):
    return client.v1.billing_portal.configurations.create(params={"features": {
        "subscription_update": {
            "enabled": True, "default_allowed_updates": ["price"],
            "proration_behavior": proration,
            "products": [{"product": p.product, "prices": [p.id]} for p in prices]},
        "subscription_cancel": {"enabled": True, "mode": mode},
        "payment_method_update": {"enabled": True}, "invoice_history": {"enabled": True}}})


class Page:
    """The portal as a browser sees it: GET the page, POST its forms with the token."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def get(self) -> str:
        response = self.http.get(self.url, timeout=10)
        assert response.status_code == 200, response.text
        return response.text

    def post(self, action: str, **fields: str) -> requests.Response:
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.get()).group(1)
        return self.http.post(self.url, data={"csrf_token": token, "action": action, **fields},
                              allow_redirects=True, timeout=10)


def _portal(client, customer, config=None):
    params = {"customer": customer, "return_url": RETURN}
    if config:
        params["configuration"] = config.id
    return Page(client.v1.billing_portal.sessions.create(params=params).url)


def test_a_default_configuration_exists(stripe_client):
    configs = stripe_client.v1.billing_portal.configurations.list().data
    assert [c.is_default for c in configs] == [True]
    assert configs[0].features.subscription_cancel.mode == "at_period_end"


def test_configurations_create_retrieve_update(stripe_client):
    price = monthly_price(stripe_client)
    config = _config(stripe_client, [price], mode="immediately")
    assert config.features.subscription_update.products[0].prices == [price.id]
    again = stripe_client.v1.billing_portal.configurations.retrieve(config.id)
    assert again.features.subscription_cancel.mode == "immediately"
    updated = stripe_client.v1.billing_portal.configurations.update(config.id, params={
        "features": {"subscription_cancel": {"mode": "at_period_end"}},
        "default_return_url": RETURN})
    assert updated.features.subscription_cancel.mode == "at_period_end"
    assert updated.default_return_url == RETURN


@pytest.mark.parametrize("params", [
    {"features": {"subscription_update": {"enabled": True, "products": [
        {"product": "prod_missing", "prices": ["price_missing"]}],
        "default_allowed_updates": ["price"]}}},
    {"features": {"subscription_cancel": {"mode": "whenever"}}},
    {"features": {"subscription_update": {"enabled": True}}},
    {"default_return_url": "javascript:alert(1)"},
])
def test_bad_configurations_are_refused(stripe_client, params):
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.billing_portal.configurations.create(params=params)


def test_sessions_need_a_real_customer_and_configuration(stripe_client):
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.billing_portal.sessions.create(params={"customer": "cus_missing"})
    customer = stripe_client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.billing_portal.sessions.create(params={
            "customer": customer.id, "configuration": "bpc_missing"})
    session = stripe_client.v1.billing_portal.sessions.create(params={
        "customer": customer.id, "return_url": RETURN})
    assert session.url.endswith(f"/p/session/{session.id}") and session.return_url == RETURN


def test_the_page_shows_plan_next_invoice_history_and_return(stripe_client):
    gold = monthly_price(stripe_client, 1000, "Gold")
    sub = _subscribe(stripe_client, gold)
    html = _portal(stripe_client, sub.customer).get()
    assert 'id="plan-name">Gold<' in html and "1,000 JPY" in html
    assert 'id="next-invoice-amount">1,000 JPY<' in html
    invoice = stripe_client.v1.invoices.list(params={"customer": sub.customer}).data[0]
    assert invoice.hosted_invoice_url in html and invoice.invoice_pdf in html
    assert f'id="return-link" href="{RETURN}"' in html


def test_switch_plan_among_the_configured_products(stripe_client):
    gold, silver = monthly_price(stripe_client, 1000, "Gold"), monthly_price(stripe_client, 500,
                                                                              "Silver")
    other = monthly_price(stripe_client, 700, "Other")
    sub = _subscribe(stripe_client, gold)
    page = _portal(stripe_client, sub.customer, _config(stripe_client, [gold, silver]))
    html = page.get()
    assert f'value="{silver.id}"' in html and other.id not in html
    refused = page.post("switch", subscription=sub.id, price=other.id)
    assert refused.status_code == 400 and "not offered" in refused.text
    done = page.post("switch", subscription=sub.id, price=silver.id)
    assert done.status_code == 200 and "Your plan was changed." in done.text
    assert 'id="plan-name">Silver<' in done.text
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == silver.id


def test_cancel_at_period_end_then_renew(stripe_client):
    price = monthly_price(stripe_client)
    sub = _subscribe(stripe_client, price)
    page = _portal(stripe_client, sub.customer)
    html = page.post("cancel", subscription=sub.id).text
    assert 'id="cancel-notice"' in html and 'id="renew-plan"' in html
    assert stripe_client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True
    html = page.post("renew", subscription=sub.id).text
    assert "Your plan was renewed." in html and 'id="cancel-plan"' in html
    assert stripe_client.v1.subscriptions.retrieve(sub.id).cancel_at is None


def test_cancel_immediately_when_configured(stripe_client):
    price = monthly_price(stripe_client)
    sub = _subscribe(stripe_client, price)
    page = _portal(stripe_client, sub.customer, _config(stripe_client, [price],
                                                        mode="immediately"))
    assert "Cancel plan now" in page.get()
    html = page.post("cancel", subscription=sub.id).text
    assert "No active subscription." in html
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "canceled"


def test_a_declined_card_is_refused_on_the_page(stripe_client):
    sub = _subscribe(stripe_client, monthly_price(stripe_client))
    page = _portal(stripe_client, sub.customer)
    response = page.post("payment_method", **card_form(DECLINE))
    assert response.status_code == 402 and "Your card was declined." in response.text
    customer = stripe_client.v1.customers.retrieve(sub.customer)
    assert customer.invoice_settings.default_payment_method is None


def test_a_good_card_pays_the_failed_renewal_at_the_next_retry(emulator, stripe_client):
    sub = _subscribe(stripe_client, monthly_price(stripe_client), FAIL_LATER)
    end = sub["items"].data[0].current_period_end
    emulator.advance(end - emulator.now() + 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    page = _portal(stripe_client, sub.customer)
    html = page.post("payment_method", **card_form(GOOD)).text
    assert "Your payment method was updated." in html and "•••• 4242" in html
    customer = stripe_client.v1.customers.retrieve(sub.customer)
    pm = customer.invoice_settings.default_payment_method
    assert stripe_client.v1.payment_methods.retrieve(pm).customer == sub.customer
    emulator.advance(DAY + 60)
    again = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert again.status == "active" and again.default_payment_method == pm
    invoice = stripe_client.v1.invoices.retrieve(again.latest_invoice)
    assert invoice.status == "paid" and invoice.attempt_count == 2


def test_forms_need_the_token_and_this_origin(stripe_client):
    sub = _subscribe(stripe_client, monthly_price(stripe_client))
    page = _portal(stripe_client, sub.customer)
    page.get()
    no_token = page.http.post(page.url, data={"action": "cancel", "subscription": sub.id},
                              timeout=10)
    assert no_token.status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get()).group(1)
    foreign = page.http.post(page.url, data={"csrf_token": token, "action": "cancel",
                                             "subscription": sub.id},
                             headers={"Origin": "https://evil.example"}, timeout=10)
    assert foreign.status_code == 403
    assert stripe_client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False


def test_another_customers_subscription_cannot_be_touched(stripe_client):
    price = monthly_price(stripe_client)
    mine, theirs = _subscribe(stripe_client, price), _subscribe(stripe_client, price)
    page = _portal(stripe_client, mine.customer)
    response = page.post("cancel", subscription=theirs.id)
    assert response.status_code == 404
    assert stripe_client.v1.subscriptions.retrieve(theirs.id).cancel_at_period_end is False


def test_an_unknown_session_is_404(emulator):
    assert requests.get(f"{emulator.url}/p/session/bps_nope", timeout=10).status_code == 404


def test_an_action_the_configuration_turns_off_is_refused(stripe_client):
    gold, silver = monthly_price(stripe_client, 1000, "Gold"), monthly_price(stripe_client, 500)
    sub = _subscribe(stripe_client, gold)
    page = _portal(stripe_client, sub.customer)  # the default: no plan switching
    assert 'id="switch-plan"' not in page.get()
    for action in ("switch", "pause"):
        response = page.post(action, subscription=sub.id, price=silver.id)
        assert response.status_code == 400 and "not available" in response.text
    assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.id == gold.id
