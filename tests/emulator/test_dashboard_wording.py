"""The emulator dashboard as a person reads it: wording, whole IDs, prices under products."""

from __future__ import annotations

import re

import requests

from .helpers import monthly_price


def endpoint_page(stripe_client, emulator) -> tuple[str, str]:
    endpoint = stripe_client.v1.webhook_endpoints.create(params={
        "url": "http://127.0.0.1:9/hook", "enabled_events": ["customer.subscription.created"]})
    return endpoint.id, requests.get(f"{emulator.url}/webhooks/{endpoint.id}").text


def test_chaos_wording_says_what_off_and_on_mean(stripe_client, emulator):
    endpoint_id, off = endpoint_page(stripe_client, emulator)
    on = requests.post(f"{emulator.url}/webhooks/{endpoint_id}/chaos",
                       data={"enabled": "true"}).text

    assert "Chaos delivery is <strong id=chaos-state>off</strong>: each event is sent once, " \
           "in the order it happened." in off
    assert "Chaos delivery is <strong id=chaos-state>on</strong>: each event is sent twice " \
           "and events are shuffled" in on
    assert "off</strong>: each event sent twice" not in off


def test_ids_shown_whole_in_monospace(stripe_client, emulator):
    monthly_price(stripe_client)
    page = requests.get(f"{emulator.url}/products").text
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)

    code_rule = re.search(r"(?:^|[}\s])code,\.mono\{([^}]*)\}", css).group(1)
    assert "monospace" in code_rule
    assert "white-space:nowrap" in code_rule and "break-all" not in code_rule
    # Links to objects do not underline their IDs (an underline hides the underscores).
    assert re.search(r"a\.id\{[^}]*text-decoration:none", css)
    assert re.search(r'<a class="id" href="/products/prod_\w+"><code>prod_\w+</code></a>', page)


def test_products_list_prices_under_each_product(stripe_client, emulator):
    gold = monthly_price(stripe_client, 980, "Gold")
    yearly = stripe_client.v1.prices.create(params={
        "currency": "jpy", "unit_amount": 9800, "recurring": {"interval": "year"},
        "product": gold.product})
    silver = monthly_price(stripe_client, 500, "Silver")

    page = requests.get(f"{emulator.url}/products").text
    rows = {re.search(r">(Gold|Silver)<", row).group(1): row
            for row in re.findall(r"<tr>(.*?)</tr>", page, re.S) if "prod_" in row}

    assert gold.id in rows["Gold"] and yearly.id in rows["Gold"]
    assert silver.id in rows["Silver"] and silver.id not in rows["Gold"]
    assert "980 JPY" in rows["Gold"] and "9,800 JPY" in rows["Gold"]


def test_price_hint_names_the_member_group(stripe_client, emulator):
    price = monthly_price(stripe_client)

    page = requests.get(f"{emulator.url}/products/{price.product}").text

    assert "into the member group's Stripe price ID in the app's admin" in page
    assert "plan settings" not in page


def test_favicon_is_served(emulator):
    response = requests.get(f"{emulator.url}/favicon.ico")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
