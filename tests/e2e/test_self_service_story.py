"""The member's whole self-service story on /demo/ in Chromium.

Subscribe; switch plan (the groups switch); a renewal fails (card 0341) and a good
card set in the billing portal pays the retry; cancel at period end (the groups
stay), resume, cancel at period end again; the period ends (the groups go); the
invoice list and one hosted invoice. ``seed_demo`` sets everything up, the emulator
is Stripe, its clock is advanced over HTTP. Screenshots: test-artifacts/screenshots/story-NN-….
"""

from __future__ import annotations

import pytest
import requests
from django.conf import settings

from members.models import Member

from .pages import Screenshots, pay_on_hosted_page, subscribe_button

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000
DAY = 86400
RENEWAL_FAILS_CARD = "4000 0000 0000 0341"


def advance(emulator, seconds: int) -> None:
    """Move Stripe's clock on and wait until its webhooks have been delivered."""
    for path, data in (("/_emulator/advance", {"seconds": seconds}), ("/_emulator/drain", {})):
        requests.post(f"{emulator.url}{path}", data=data, timeout=60).raise_for_status()


def groups_of_demo_member() -> list[str]:
    member = Member.objects.get(email=settings.DEMO_MEMBER_EMAIL)
    return sorted(member.member_groups.values_list("name", flat=True))


def test_member_manages_the_subscription_on_the_demo_page(browser_page, emulator, live_server,
                                                           seeded_demo):
    page = browser_page
    page.set_default_timeout(WAIT_MS)
    shot = Screenshots("story")
    message = page.locator("#message")
    groups = page.locator("#groups")

    def reload() -> None:
        page.goto(f"{live_server.url}/demo/")
        page.locator("#profile").wait_for()

    # 1. Subscribe to Basic with a card that pays now and fails at renewal.
    page.goto(f"{live_server.url}/demo/")
    page.locator("#email").fill(settings.DEMO_MEMBER_EMAIL)
    page.locator("#password").fill(settings.DEMO_MEMBER_PASSWORD)
    page.locator("#login-button").click()
    page.locator("#profile").wait_for()
    assert page.locator("#subscription-section").is_hidden()
    with page.expect_navigation(url=f"{emulator.url}/c/pay/**"):
        page.locator("#subscribe-button").click()
    pay_on_hosted_page(page, card=RENEWAL_FAILS_CARD, name="Demo Member")
    with page.expect_navigation(url=f"{live_server.url}/demo/?checkout=success"):
        subscribe_button(page).click()
    page.get_by_text("Subscribed: you are now in Basic members.").wait_for()
    page.locator("#subscription-section").wait_for()
    assert page.locator("#plan-name").inner_text() == "Basic — 1,000 JPY / month"
    assert page.locator("#subscription-status").inner_text() == "active"
    assert page.locator("#renewal-label").inner_text() == "Next renewal"
    shot(page, "subscribed")

    # 2. Switch to Premium: the groups follow when Stripe's updated event arrives.
    page.locator("#plan-select").select_option(label="Premium — 3,000 JPY / month")
    page.locator("#switch-plan-button").click()
    page.locator("#plan-name").filter(has_text="Premium").wait_for()
    page.get_by_text("Plan changed.").wait_for()
    assert groups.inner_text().strip() == "Premium members"
    assert groups_of_demo_member() == ["Premium members"]
    shot(page, "switched-plan")

    # 3. The renewal fails: past due, the group stays; a good card in the portal pays the retry.
    advance(emulator, 32 * DAY)
    reload()
    assert page.locator("#subscription-status").inner_text() == "past_due"
    assert groups.inner_text().strip() == "Premium members"
    shot(page, "past-due")
    with page.expect_navigation(url=f"{emulator.url}/p/session/**"):
        page.locator("#portal-button").click()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Demo Member")
    page.click("#update-payment-method")
    assert "4242" in page.locator("#card-on-file").inner_text()
    shot(page, "portal-card-updated")
    with page.expect_navigation(url=f"{live_server.url}/demo/**"):
        page.click("#return-link")
    advance(emulator, 2 * DAY)  # the next retry
    reload()
    assert page.locator("#subscription-status").inner_text() == "active"
    assert groups.inner_text().strip() == "Premium members"
    shot(page, "renewal-paid")

    # 4. Cancel at period end (the group stays), resume, cancel at period end again.
    page.locator("#cancel-at-period-end-button").click()
    page.get_by_text("Your subscription ends on").wait_for()
    page.locator("#renewal-label").filter(has_text="Ends on").wait_for()
    assert page.locator("#resume-button").is_visible()
    assert groups.inner_text().strip() == "Premium members"
    shot(page, "cancel-scheduled")
    page.locator("#resume-button").click()
    page.get_by_text("Subscription resumed.").wait_for()
    page.locator("#renewal-label").filter(has_text="Next renewal").wait_for()
    shot(page, "resumed")
    page.locator("#cancel-at-period-end-button").click()
    page.locator("#renewal-label").filter(has_text="Ends on").wait_for()
    ends_on = page.locator("#renewal-date").inner_text()
    assert groups_of_demo_member() == ["Premium members"]

    # 5. The period ends: Stripe deletes the subscription and the group goes.
    advance(emulator, 32 * DAY)
    reload()
    assert groups.inner_text().strip() == "None"
    assert page.locator("#subscription-section").is_hidden()
    assert page.locator("#subscription-id").inner_text() == "—"
    assert groups_of_demo_member() == []
    shot(page, "ended")
    assert ends_on

    # 6. The invoices stay readable; one opens as Stripe's hosted invoice.
    rows = page.locator("#invoice-list tbody tr")
    # Newest first: the renewal (failed, then paid by the retry), then the first payment.
    assert rows.count() == 2
    assert [rows.nth(i).locator("td").nth(3).inner_text() for i in range(2)] == ["paid", "paid"]
    assert rows.nth(1).locator("td").nth(2).inner_text() == "1,000 JPY"
    assert message.inner_text() == ""
    with page.context.expect_page() as opened:
        page.locator("#invoice-list a.invoice-link").first.click()
    invoice = opened.value
    invoice.wait_for_load_state()
    assert invoice.locator("#invoice-number").is_visible()
    shot(invoice, "hosted-invoice")
