"""The demo page (/demo/) in Chromium: sign in, subscribe, pay, see the group, cancel.

``seed_demo`` sets everything up as ``make run`` does, against a live emulator
and the app on ``live_server``; the member then only uses the demo page and
Stripe's hosted Checkout page. Screenshots: test-artifacts/screenshots/demo-NN-….
"""

from __future__ import annotations

import pytest
from django.conf import settings

from .pages import ID_RE, Screenshots, pay_on_hosted_page, subscribe_button

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000  # the page polls the profile for up to ~10 s while webhooks arrive


def test_demo_page_sign_in_subscribe_and_cancel(browser_page, emulator, live_server, seeded_demo):
    page = browser_page
    page.set_default_timeout(WAIT_MS)
    shot = Screenshots("demo")
    message = page.locator("#message")

    page.goto(f"{live_server.url}/demo/")
    page.locator("#email").fill(settings.DEMO_MEMBER_EMAIL)
    page.locator("#password").fill(settings.DEMO_MEMBER_PASSWORD)
    shot(page, "sign-in")
    page.locator("#login-button").click()
    page.locator("#profile").wait_for()
    assert message.inner_text() == "Signed in."
    assert page.locator("#groups").inner_text().strip() == "None"
    assert page.locator("#subscription-id").inner_text() == "—"
    assert page.locator("#cancel-button").is_disabled()
    shot(page, "signed-in")

    with page.expect_navigation(url=f"{emulator.url}/c/pay/**"):
        page.locator("#subscribe-button").click()
    assert "Basic" in page.locator("body").inner_text()
    pay_on_hosted_page(page, name="Demo Member")
    shot(page, "checkout")
    with page.expect_navigation(url=f"{live_server.url}/demo/?checkout=success"):
        subscribe_button(page).click()

    page.get_by_text("Subscribed: you are now in Basic members.").wait_for(timeout=WAIT_MS)
    shot(page, "subscribed")
    assert page.locator("#groups").inner_text().strip() == "Basic members"
    customer_id = page.locator("#customer-id").inner_text()
    subscription_id = page.locator("#subscription-id").inner_text()
    assert ID_RE["cus"].match(customer_id), customer_id
    assert ID_RE["sub"].match(subscription_id), subscription_id
    assert page.locator("#subscribe-button").is_disabled()

    page.locator("#cancel-button").click()
    page.get_by_text("Subscription canceled.").wait_for(timeout=WAIT_MS)
    page.locator("#subscription-id").filter(has_text="—").wait_for(timeout=WAIT_MS)
    shot(page, "canceled")
    assert page.locator("#groups").inner_text().strip() == "None"
    assert page.locator("#customer-id").inner_text() == customer_id  # the customer stays
    assert not page.locator("#subscribe-button").is_disabled()

    page.locator("#logout-button").click()
    page.locator("#login-section").wait_for()
    assert message.inner_text() == "Logged out."
    assert page.locator("#profile").is_hidden()
    shot(page, "logged-out")
