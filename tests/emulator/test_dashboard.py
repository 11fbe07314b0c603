"""The dashboard, posted as a browser would, plus one real browser run of Checkout."""

from __future__ import annotations

import re

import pytest
import requests
import stripe

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


# --- Managing what the tutorial created: prices, endpoints ------------------------------

HOOK = "http://127.0.0.1:9/direct/stripe/webhook/"


def page_post(emulator, path: str, data: dict | None = None) -> requests.Response:
    """A form POST as the dashboard's own pages send it (same origin, see csrf.py)."""
    return requests.post(f"{emulator.url}{path}", data=data or {},
                         headers={"Origin": emulator.url, "Sec-Fetch-Site": "same-origin"})


def add_endpoint(stripe_client, url: str = HOOK):
    return stripe_client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": ["customer.subscription.created"]})


def price_ids(page: str) -> list[str]:
    return re.findall(r'class="price-id">(price_\w+)<', page)


def test_add_a_price_to_an_existing_product(stripe_client, emulator):
    monthly = monthly_price(stripe_client, 980, "Gold")
    page = requests.get(f"{emulator.url}/products/{monthly.product}").text
    assert "Add a price" in page and price_ids(page) == [monthly.id]

    response = page_post(emulator, f"/products/{monthly.product}/prices",
                         {"amount": "9800", "currency": "jpy", "interval": "year"})

    assert response.status_code == 200
    assert response.url == f"{emulator.url}/products/{monthly.product}"
    [yearly_id] = [i for i in price_ids(response.text) if i != monthly.id]
    yearly = stripe_client.v1.prices.retrieve(yearly_id)
    assert yearly.product == monthly.product
    assert yearly.unit_amount == 9800 and yearly.currency == "jpy"
    assert yearly.type == "recurring" and yearly.recurring.interval == "year"


def test_a_bad_price_is_refused_and_adds_nothing(stripe_client, emulator):
    monthly = monthly_price(stripe_client, 980, "Gold")

    response = page_post(emulator, f"/products/{monthly.product}/prices",
                         {"amount": "abc", "currency": "usd", "interval": "year"})

    assert response.status_code == 400
    assert re.search(r'class="error" role="alert">[^<]*Invalid integer', response.text)
    # The form comes back as the person filled it.
    assert 'name="amount" value="abc"' in response.text
    assert '<option value="usd" selected>' in response.text
    assert '<option value="year" selected>' in response.text
    prices = stripe_client.v1.prices.list(params={"product": monthly.product}).data
    assert [p.id for p in prices] == [monthly.id]
    missing = page_post(emulator, "/products/prod_nope/prices",
                        {"amount": "100", "currency": "jpy", "interval": "month"})
    assert missing.status_code == 404 and "No such product: prod_nope" in missing.text


def test_disable_enable_and_delete_a_webhook_endpoint(stripe_client, emulator):
    endpoint = add_endpoint(stripe_client)
    page = requests.get(f"{emulator.url}/webhooks/{endpoint.id}").text
    assert "Disable endpoint" in page and "Delete endpoint" in page

    disabled = page_post(emulator, f"/webhooks/{endpoint.id}/status", {"disabled": "true"})
    assert disabled.url == f"{emulator.url}/webhooks/{endpoint.id}"
    assert "Enable endpoint" in disabled.text
    assert stripe_client.v1.webhook_endpoints.retrieve(endpoint.id).status == "disabled"

    page_post(emulator, f"/webhooks/{endpoint.id}/status", {"disabled": "false"})
    assert stripe_client.v1.webhook_endpoints.retrieve(endpoint.id).status == "enabled"

    deleted = page_post(emulator, f"/webhooks/{endpoint.id}/delete")
    assert deleted.url == f"{emulator.url}/webhooks"
    assert endpoint.id not in deleted.text
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.webhook_endpoints.retrieve(endpoint.id)
    again = page_post(emulator, f"/webhooks/{endpoint.id}/delete")
    assert again.status_code == 404 and f"No such webhook endpoint: {endpoint.id}" in again.text


def test_endpoint_controls_refuse_a_cross_site_post(stripe_client, emulator):
    endpoint = add_endpoint(stripe_client)
    for path in (f"/webhooks/{endpoint.id}/delete", f"/webhooks/{endpoint.id}/status"):
        response = requests.post(f"{emulator.url}{path}", data={"disabled": "true"},
                                 headers={"Origin": "https://evil.example"})
        assert response.status_code == 403
    assert stripe_client.v1.webhook_endpoints.retrieve(endpoint.id).status == "enabled"


def test_two_endpoints_for_one_url_are_flagged(stripe_client, emulator):
    first = add_endpoint(stripe_client)
    other = add_endpoint(stripe_client, "http://127.0.0.1:9/other")
    assert "share" not in requests.get(f"{emulator.url}/webhooks").text

    second = add_endpoint(stripe_client)

    listing = requests.get(f"{emulator.url}/webhooks").text
    [warning] = re.findall(r'<p class="warning" role="alert">(.*?)</p>', listing, re.S)
    assert HOOK in warning and first.id in warning and second.id in warning
    assert other.id not in warning
    detail = requests.get(f"{emulator.url}/webhooks/{first.id}").text
    [warning] = re.findall(r'<p class="warning" role="alert">(.*?)</p>', detail, re.S)
    assert second.id in warning and "signing secret" in warning

    # A disabled endpoint sends nothing: no warning for it, and none once it is deleted.
    page_post(emulator, f"/webhooks/{second.id}/status", {"disabled": "true"})
    assert 'class="warning"' not in requests.get(f"{emulator.url}/webhooks").text
    assert 'class="warning"' not in requests.get(f"{emulator.url}/webhooks/{first.id}").text
    page_post(emulator, f"/webhooks/{second.id}/status", {"disabled": "false"})
    assert 'class="warning"' in requests.get(f"{emulator.url}/webhooks").text
    page_post(emulator, f"/webhooks/{second.id}/delete")
    assert 'class="warning"' not in requests.get(f"{emulator.url}/webhooks").text
