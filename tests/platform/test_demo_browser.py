"""The whole demo in Chromium: seed, sign in, subscribe on the emulator's page, cancel, log out.

The app runs on ``live_server``; the emulator delivers the subscription webhooks
to it over real HTTP, exactly as in `make run`.
"""

from __future__ import annotations

import os
from io import StringIO

import pytest
from django.core.management import call_command

from members.models import Member
from tests.fixtures.browser import save_screenshot

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module", autouse=True)
def django_under_playwright():
    """Playwright's sync API keeps an event loop marked running in this thread for as
    long as the session-scoped Chromium lives, which trips Django's async-safety check
    on plain synchronous ORM calls. Left set: the browser outlives this module."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture
def seeded_demo(live_server, emulator, settings, monkeypatch, transactional_db):
    settings.STRIPE_API_BASE = emulator.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.DEMO_SITE_URL = live_server.url
    monkeypatch.setenv("DEMO_STRIPE_SECRET_KEY", emulator.secret_key)
    monkeypatch.setenv("DEMO_STRIPE_PUBLISHABLE_KEY", emulator.publishable_key)
    call_command("seed_demo", stdout=StringIO())
    return live_server.url


def message(page) -> str:
    return page.inner_text("#message")


def test_member_subscribes_and_cancels_on_the_demo_page(seeded_demo, emulator, browser_page):
    page = browser_page
    page.goto(f"{seeded_demo}/demo/")

    page.fill("#email", "member@example.com")
    page.fill("#password", "wrong-password-1")
    page.click("#login-button")
    page.wait_for_function("document.getElementById('message').className === 'error'")
    assert "Sign-in failed (401)" in message(page)

    page.fill("#password", "member-pass-123")
    page.click("#login-button")
    page.locator("#profile").wait_for(state="visible")
    assert page.inner_text("#groups") == "None"
    assert page.is_disabled("#cancel-button")

    page.click("#subscribe-button")
    page.wait_for_url(f"{emulator.url}/c/pay/**")
    page.fill("[name=card_number]", "4242 4242 4242 4242")
    page.fill("[name=card_expiry]", "12 / 34")
    page.fill("[name=card_cvc]", "123")
    page.fill("[name=cardholder_name]", "Demo Member")
    page.click("#submit")

    page.wait_for_url(f"{seeded_demo}/demo/**")
    page.wait_for_function(
        "document.getElementById('message').textContent.startsWith('Subscribed')",
        timeout=20_000,
    )
    save_screenshot(page, "demo-subscribed")
    member = Member.objects.get(email="member@example.com")
    assert page.inner_text("#groups") == "Basic members"
    assert page.inner_text("#customer-id") == member.stripe_customer_id
    assert page.inner_text("#subscription-id") == member.stripe_subscription_id
    assert page.is_disabled("#subscribe-button")

    page.click("#cancel-button")
    page.wait_for_function(
        "document.getElementById('message').className === 'success'", timeout=20_000
    )
    assert page.inner_text("#groups") == "None"
    assert page.inner_text("#subscription-id") == "—"
    assert not Member.objects.get(pk=member.pk).member_groups.exists()

    page.click("#logout-button")
    page.locator("#login-section").wait_for(state="visible")
    assert message(page) == "Logged out."
