"""The hosted Billing Portal in Chromium: switch plan, a refused card, a good card, cancel,
renew, an invoice and its PDF link, and the Return link."""

from __future__ import annotations

import pytest

from tests.fixtures.browser import save_screenshot

from .helpers import monthly_price, pay, subscription_session


@pytest.mark.browser
def test_member_manages_billing_in_the_portal(stripe_client, emulator, browser_page):
    gold = monthly_price(stripe_client, 1000, "Gold")
    silver = monthly_price(stripe_client, 500, "Silver")
    session = subscription_session(stripe_client, gold.id)
    assert pay(session.url).status_code == 303
    customer = stripe_client.v1.checkout.sessions.retrieve(session.id).customer
    config = stripe_client.v1.billing_portal.configurations.create(params={"features": {
        "subscription_update": {
            "enabled": True, "default_allowed_updates": ["price"],
            "proration_behavior": "none",
            "products": [{"product": p.product, "prices": [p.id]} for p in (gold, silver)]},
        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
        "payment_method_update": {"enabled": True}, "invoice_history": {"enabled": True}}})
    back = f"{emulator.url}/apikeys"  # any page the emulator serves
    portal = stripe_client.v1.billing_portal.sessions.create(params={
        "customer": customer, "configuration": config.id, "return_url": back})
    page = browser_page
    page.goto(portal.url)
    assert page.locator("#plan-name").inner_text() == "Gold"
    save_screenshot(page, "portal-start")

    page.select_option("#price", silver.id)
    page.click("#switch-plan")
    assert page.locator("#portal-notice").inner_text() == "Your plan was changed."
    assert page.locator("#plan-name").inner_text() == "Silver"

    def fill_card(number: str) -> None:
        page.get_by_label("Card number").fill(number)
        page.get_by_label("Expiry (MM/YY)").fill("12/34")
        page.get_by_label("CVC").fill("123")
        page.get_by_label("Cardholder name").fill("Taro Yamada")
        page.click("#update-payment-method")

    fill_card("4000 0000 0000 0002")
    assert page.get_by_role("alert").inner_text() == "Your card was declined."
    save_screenshot(page, "portal-card-declined")
    fill_card("5555 5555 5555 4444")
    assert "4444" in page.locator("#card-on-file").inner_text()

    page.click("#cancel-plan")
    assert "Your plan ends on" in page.locator("#cancel-notice").inner_text()
    save_screenshot(page, "portal-cancel-scheduled")
    page.click("#renew-plan")
    assert page.locator("#cancel-notice").count() == 0

    page.locator("#invoice-history a", has_text="View").first.click()
    assert page.locator("#invoice-number").is_visible()
    save_screenshot(page, "portal-invoice")
    page.go_back()
    page.click("#return-link")
    page.wait_for_url(back)
    sub = stripe_client.v1.subscriptions.list(params={"customer": customer}).data[0]
    assert sub["items"].data[0].price.id == silver.id and not sub.cancel_at_period_end

