"""The dashboard, posted as a browser would, plus one real browser run of Checkout."""

from __future__ import annotations

import re

import pytest
import requests

from tests.fixtures.browser import save_screenshot

from .helpers import monthly_price, subscription_session


def test_keys_page(emulator):
    page = requests.get(f"{emulator.url}/apikeys").text
    assert f'id="publishable-key">{emulator.publishable_key}<' in page
    assert f'id="secret-key">{emulator.secret_key}<' in page


def test_add_product_then_copy_price_id(stripe_client, emulator):
    response = requests.post(f"{emulator.url}/products", data={
        "name": "Gold", "description": "Members", "amount": "980", "currency": "jpy",
        "interval": "month"})
    assert response.status_code == 200 and "/products/prod_" in response.url
    price_id = re.search(r'class="price-id">(price_\w+)<', response.text).group(1)
    price = stripe_client.v1.prices.retrieve(price_id, params={"expand": ["product"]})
    assert price.unit_amount == 980 and price.recurring.interval == "month"
    assert price.product.name == "Gold" and price.product.default_price == price_id
    bad = requests.post(f"{emulator.url}/products", data={"name": "X", "amount": "abc",
                                                          "currency": "jpy", "interval": "year"})
    assert bad.status_code == 400 and "Invalid integer" in bad.text


def test_add_webhook_endpoint_and_reveal_secret(stripe_client, emulator):
    response = requests.post(f"{emulator.url}/webhooks", data={
        "url": "http://127.0.0.1:9/hook", "description": "app",
        "enabled_events": ["customer.subscription.created", "invoice.paid"]})
    endpoint_id = re.search(r"/webhooks/(we_\w+)", response.url).group(1)
    assert "Reveal signing secret" in response.text
    assert not re.search(r"whsec_\w{8}", response.text)
    endpoint = stripe_client.v1.webhook_endpoints.retrieve(endpoint_id)
    assert endpoint.enabled_events == ["customer.subscription.created", "invoice.paid"]
    revealed = requests.post(f"{emulator.url}/webhooks/{endpoint_id}/reveal").text
    assert re.search(r'id="signing-secret">whsec_\w+<', revealed)


def test_object_pages(stripe_client, emulator):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    requests.post(session.url, data={"card_number": "4242424242424242", "card_expiry": "1/40",
                                     "card_cvc": "999", "cardholder_name": "A"},
                  allow_redirects=False)
    sub = stripe_client.v1.subscriptions.list().data[0]
    sub_page = requests.get(f"{emulator.url}/subscriptions/{sub.id}").text
    assert "active" in sub_page and "Gold" in sub_page
    assert "member@example.com" in requests.get(f"{emulator.url}/customers/{sub.customer}").text
    assert sub.id in requests.get(f"{emulator.url}/subscriptions").text
    assert "checkout.session.completed" in requests.get(f"{emulator.url}/events").text
    assert requests.get(f"{emulator.url}/subscriptions/sub_nope").status_code == 404


@pytest.mark.browser
def test_browser_pays_and_lands_on_success_url(stripe_client, emulator, browser_page):
    price = monthly_price(stripe_client, name="Gold membership")
    success = f"{emulator.url}/?paid={{CHECKOUT_SESSION_ID}}"  # any page the emulator serves
    session = subscription_session(stripe_client, price.id, success_url=success)
    page = browser_page
    page.goto(session.url)
    assert page.get_by_text("Gold membership").is_visible()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Taro Yamada")
    save_screenshot(page, "checkout-filled")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{emulator.url}/?paid={session.id}")
    save_screenshot(page, "checkout-success")
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "complete"
