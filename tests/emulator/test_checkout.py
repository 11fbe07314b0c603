"""Checkout Sessions and the hosted page, posted the way a browser posts it."""

from __future__ import annotations

import re
import threading

import pytest
import requests
import stripe

from .helpers import (
    DECLINE,
    FAIL_LATER,
    GOOD,
    INSUFFICIENT,
    event_types,
    monthly_price,
    pay,
    subscribe,
    subscription_session,
)


def test_session_shape_and_page(stripe_client, emulator):
    price = monthly_price(stripe_client, amount=1200, name="Gold membership")
    session = subscription_session(stripe_client, price.id, client_reference_id="member-7",
                                   metadata={"member": "7"})
    assert session.id.startswith("cs_test_") and session.status == "open"
    assert session.url == f"{emulator.url}/c/pay/{session.id}"
    assert session.payment_status == "unpaid" and session.amount_total == 1200
    assert session.expires_at - session.created == 24 * 3600
    page = requests.get(session.url)
    assert page.status_code == 200
    for text in ("Gold membership", "1,200 JPY", "per month", "member@example.com",
                 'name="card_number"', 'name="card_expiry"', 'name="card_cvc"',
                 'name="cardholder_name"', ">Subscribe</button>", 'href="http://127.0.0.1:9/cancel"'):
        assert text in page.text
    assert 'name="email"' not in page.text


def test_paying_with_4242_creates_everything_in_order(stripe_client):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id,
                                   subscription_data={"metadata": {"member_id": "42"}})
    response = pay(session.url, GOOD)
    assert response.status_code == 303
    assert response.headers["Location"] == f"http://127.0.0.1:9/done?session_id={session.id}"
    done = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["subscription", "customer", "invoice"]})
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.customer.email == "member@example.com"
    sub = done.subscription
    assert sub.status == "active" and sub.metadata.to_dict() == {"member_id": "42"}
    item = sub["items"].data[0]
    assert item.price.id == price.id and item.plan.interval == "month"
    assert item.current_period_start == sub.start_date
    assert item.current_period_end > item.current_period_start + 27 * 86400
    assert done.invoice.status == "paid" and done.invoice.amount_paid == 1000
    assert sub.latest_invoice == done.invoice.id
    assert event_types(stripe_client)[-6:] == [
        "customer.created", "invoice.created", "invoice.paid", "invoice.payment_succeeded",
        "customer.subscription.created", "checkout.session.completed"]
    completed = stripe_client.v1.events.list(params={"type": "checkout.session.completed"})
    assert completed.data[0].data.object.subscription == sub.id
    _other_session, other = subscribe(stripe_client)  # another customer's invoice
    assert other.customer != done.customer.id
    invoices = stripe_client.v1.invoices.list(params={"customer": done.customer.id})
    assert [i.id for i in invoices.data] == [done.invoice.id]
    assert len(stripe_client.v1.invoices.list().data) == 2


@pytest.mark.parametrize(("number", "message"), [
    (DECLINE, "Your card was declined."),
    (INSUFFICIENT, "Your card has insufficient funds."),
])
def test_declined_cards_leave_the_session_open(stripe_client, number, message):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    response = pay(session.url, number)
    # Only the hosted page declines cards (no API call charges one): a 402 page with the
    # message in an alert, not a JSON error.
    assert response.status_code == 402
    assert response.headers["Content-Type"].startswith("text/html")
    assert f'<p class="error" role="alert">{message}</p>' in response.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.subscriptions.list().data == []
    assert pay(session.url, GOOD).status_code == 303  # a good card still works after


def test_0341_card_pays_the_first_invoice(stripe_client):
    _session, sub = subscribe(stripe_client, FAIL_LATER)
    assert sub.status == "active"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("card_number", "4242 4242 4242 4241", "Your card number is invalid."),
    ("card_number", "abc", "Your card number is invalid."),
    ("card_expiry", "01/20", "Your card's expiration date is in the past."),
    ("card_expiry", "13/30", "Your card's expiration date is incomplete."),
    ("card_cvc", "1", "Your card's security code is incomplete."),
    ("cardholder_name", "  ", "Enter the cardholder name."),
])
def test_invalid_card_input_is_shown_on_the_page(stripe_client, field, value, message):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    response = pay(session.url, **{field: value})
    assert response.status_code == 400 and message in response.text.replace("&#x27;", "'")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_email_field_when_session_has_no_email(stripe_client):
    price = monthly_price(stripe_client)
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": "http://127.0.0.1:9/ok"})
    assert 'name="email"' in requests.get(session.url).text
    assert pay(session.url).status_code == 400  # email missing
    assert pay(session.url, email="new@example.com").status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["customer"]})
    assert done.customer.email == "new@example.com"
    assert done.customer_details.email == "new@example.com"


def test_existing_customer_is_reused(stripe_client):
    customer = stripe_client.v1.customers.create(params={"email": "old@example.com"})
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id, customer=customer.id)
    assert "old@example.com" in requests.get(session.url).text
    assert pay(session.url).status_code == 303
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).customer == customer.id
    assert len(stripe_client.v1.customers.list().data) == 1


def test_paying_twice_is_refused(stripe_client):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    assert pay(session.url).status_code == 303
    again = pay(session.url)
    assert again.status_code == 409 and "This checkout session is complete." in again.text
    assert "This checkout session is complete." in requests.get(session.url).text
    assert len(stripe_client.v1.subscriptions.list().data) == 1


def test_concurrent_payments_make_one_subscription(stripe_client):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        results.append(pay(session.url).status_code)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [303, 409]
    assert len(stripe_client.v1.subscriptions.list().data) == 1
    assert len(stripe_client.v1.invoices.list().data) == 1


def test_expire_and_expiry_by_clock(stripe_client, emulator):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    expired = stripe_client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    page = pay(session.url)
    assert page.status_code == 409 and "This checkout session has expired." in page.text
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.expire(session.id)
    later = subscription_session(stripe_client, price.id)
    emulator.advance(24 * 3600 + 1)
    assert stripe_client.v1.checkout.sessions.retrieve(later.id).status == "expired"
    assert event_types(stripe_client, type="checkout.session.expired") == [
        "checkout.session.expired", "checkout.session.expired"]


def test_trial_subscription(stripe_client):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id,
                                   subscription_data={"trial_period_days": 14})
    assert "14-day free trial" in requests.get(session.url).text
    assert pay(session.url).status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id,
                                                       params={"expand": ["subscription"]})
    sub = done.subscription
    assert sub.status == "trialing" and sub.trial_end - sub.trial_start == 14 * 86400
    assert sub["items"].data[0].current_period_end == sub.trial_end
    assert stripe_client.v1.invoices.retrieve(sub.latest_invoice).amount_paid == 0
    assert done.payment_status == "no_payment_required"


def test_payment_mode(stripe_client):
    once = stripe_client.v1.prices.create(params={"currency": "jpy", "unit_amount": 5000,
                                                  "product_data": {"name": "Seminar"}})
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "payment", "line_items": [{"price": once.id, "quantity": 2}],
        "customer_email": "buyer@example.com", "success_url": "http://127.0.0.1:9/ok"})
    page = requests.get(session.url).text
    assert ">Pay</button>" in page and "10,000 JPY" in page
    assert pay(session.url).status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.payment_intent.startswith("pi_") and done.subscription is None
    assert stripe_client.v1.subscriptions.list().data == []
    assert stripe_client.v1.balance.retrieve().pending[0].amount == 10000


def test_session_validation_errors(stripe_client):
    recurring = monthly_price(stripe_client)
    once = stripe_client.v1.prices.create(params={"currency": "jpy", "unit_amount": 100,
                                                  "product_data": {"name": "One"}})
    inactive = monthly_price(stripe_client)
    stripe_client.v1.prices.update(inactive.id, params={"active": False})
    base = {"success_url": "http://127.0.0.1:9/ok"}

    def error(**params):
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.checkout.sessions.create(params={**base, **params})
        return info.value

    def line(price_id):
        return [{"price": price_id, "quantity": 1}]

    e = error(mode="subscription", line_items=line("price_missing"))
    assert (e.code, e.param, e.http_status) == ("resource_missing", "line_items[0][price]", 400)
    assert "No such price: 'price_missing'" in str(e)
    e = error(mode="subscription", line_items=line(inactive.id))
    assert e.param == "line_items[0][price]" and "inactive" in str(e)
    # Stripe sends these two without a code: only type, message and param.
    assert (e.http_status, e.error.type, e.code) == (400, "invalid_request_error", None)
    e = error(mode="subscription", line_items=line(once.id))
    assert "at least one recurring price" in str(e)
    assert (e.http_status, e.error.type, e.code) == (400, "invalid_request_error", None)
    assert e.param == "line_items[0][price]"
    e = error(mode="payment", line_items=line(recurring.id))
    assert e.param == "line_items[0][price]" and "recurring price" in str(e)
    e = error(mode="subscription", line_items=line(recurring.id), customer="cus_missing")
    assert (e.code, e.param) == ("resource_missing", "customer")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.checkout.sessions.create(params={
            "mode": "subscription", "line_items": line(recurring.id)})
    assert (info.value.code, info.value.param) == ("parameter_missing", "success_url")


def test_sessions_list_and_line_items(stripe_client):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    assert [s.id for s in stripe_client.v1.checkout.sessions.list().data] == [session.id]
    items = stripe_client.v1.checkout.sessions.line_items.list(session.id)
    assert items.data[0].price.id == price.id and items.data[0].description == "Gold"


@pytest.mark.parametrize("param", ["success_url", "cancel_url"])
@pytest.mark.parametrize("url", ["not a url", "example.com/ok", "ftp://example.com/ok",
                                 "http://", "http://exa mple.com/ok", "javascript:alert(1)",
                                 "http://example.com:port/ok", "http://[::1/ok"])
def test_redirect_urls_must_be_valid(stripe_client, param, url):
    price = monthly_price(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        subscription_session(stripe_client, price.id, **{param: url})
    e = info.value
    assert (e.http_status, e.error.type, e.code, e.param) == (
        400, "invalid_request_error", "url_invalid", param)
    assert e.user_message == "Not a valid URL"
    assert stripe_client.v1.checkout.sessions.list().data == []


def test_redirect_url_length_limit(stripe_client):
    price = monthly_price(stripe_client)
    long_url = "https://example.com/" + "a" * 4981  # 5001 characters
    with pytest.raises(stripe.InvalidRequestError) as info:
        subscription_session(stripe_client, price.id, success_url=long_url)
    assert (info.value.code, info.value.param) == ("url_invalid", "success_url")
    assert "5000 characters" in info.value.user_message
    ok = subscription_session(stripe_client, price.id, success_url=long_url[:5000],
                              cancel_url="https://127.0.0.1:8443/back?x={CHECKOUT_SESSION_ID}")
    assert ok.success_url == long_url[:5000]


def input_value(page: str, name: str) -> str:
    match = re.search(rf'<input [^>]*name="{name}" value="([^"]*)"', page)
    assert match, f"no input {name}"
    return match.group(1)


@pytest.mark.parametrize(("number", "status"), [
    ("4242 4242 4242 4241", 400),  # fails the Luhn check
    (DECLINE, 402),
])
def test_card_number_and_cvc_are_not_echoed_back(stripe_client, number, status):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    response = pay(session.url, number, card_cvc="987", card_expiry="11/33",
                   cardholder_name="Hanako Sato")
    assert response.status_code == status
    page = response.text
    assert input_value(page, "card_number") == "" and input_value(page, "card_cvc") == ""
    assert 'value="987"' not in page
    assert "4242 4242 4242 4241" not in page and "4242424242424241" not in page
    # What is not secret stays, so the buyer does not type it again.
    assert input_value(page, "card_expiry") == "11/33"
    assert input_value(page, "cardholder_name") == "Hanako Sato"


def test_a_price_of_an_archived_product_cannot_be_bought(stripe_client):
    """As Stripe: the price stays active, its product does not; neither Checkout nor a
    plan change sells it (400, the price's parameter named)."""
    from .helpers import monthly_price, subscribe

    price = monthly_price(stripe_client, name="Old plan")
    stripe_client.v1.products.update(price.product, params={"active": False})
    assert stripe_client.v1.prices.retrieve(price.id).active

    with pytest.raises(stripe.InvalidRequestError) as refused:
        subscription_session(stripe_client, price.id)
    assert refused.value.param == "line_items[0][price]"
    assert "its product is not active" in refused.value.user_message

    _session, sub = subscribe(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.update(sub.id, params={
            "items": [{"id": sub["items"].data[0].id, "price": price.id}]})
    assert refused.value.param == "items[0][price]"
