"""Every admin console page in Chromium at 1280 and 1920 px: no sideways scroll, no console
error, no failed request (favicon included). Screenshots: test-artifacts/screenshots/layout-*,
and admin-*.png for the README (`make screenshots` copies them to docs/screenshots/)."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.fixtures.accounts import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.fixtures.billing import WEBHOOK_PATH
from tests.fixtures.browser import SCREENSHOT_DIR, save_screenshot

from .pages import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 1920)
README_PAGES_WIDTH = 1280


@pytest.fixture
def console(emulator, live_server, app_on_emulator, settings, monkeypatch) -> dict[str, Any]:
    """The seeded demo, plus subscribers, a failed event and a lockout, so pages have rows."""
    from axes.models import AccessAttempt

    from kuroco_billing.rcms_api.models import Endpoint
    from members.models import Member, MemberGroup
    from payments.models import RefusedDelivery, StripeSettings, SubscriptionState, WebhookEvent
    from payments.services.refusals import record_refusal
    from payments.setup_checks import run_checks

    settings.DEMO_SITE_URL = live_server.url
    settings.DEMO_ADMIN_EMAIL, settings.DEMO_ADMIN_PASSWORD = ADMIN_EMAIL, ADMIN_PASSWORD
    monkeypatch.setenv("DEMO_STRIPE_SECRET_KEY", emulator.secret_key)
    monkeypatch.setenv("DEMO_STRIPE_PUBLISHABLE_KEY", emulator.publishable_key)
    call_command("seed_demo", stdout=io.StringIO(), stderr=io.StringIO())

    prices = list(MemberGroup.objects.exclude(stripe_price_id=None)
                  .values_list("stripe_price_id", flat=True))
    now = timezone.now()
    for i, status in enumerate(["active", "trialing", "past_due", "active", "canceled"]):
        sub = f"sub_LayoutCheck{i:02d}Abcdefghij"
        member = Member.objects.create_user(
            f"subscriber.with.a.long.address{i}@members.example.com", "x-pass-123",
            name=f"Subscriber {i}", stripe_customer_id=f"cus_LayoutCheck{i:02d}Abcdef",
            stripe_subscription_id=sub,
        )
        SubscriptionState.objects.create(
            subscription_id=sub, customer_id=member.stripe_customer_id, member=member,
            status=status, price_ids=[prices[i % len(prices)]],
            current_period_end=now + datetime.timedelta(days=20 + i),
            deleted=status == "canceled", last_event_id=f"evt_Layout{i}",
            last_event_created=int(now.timestamp()),
        )
        WebhookEvent.objects.create(
            event_id=f"evt_LayoutCheckCreated{i:02d}Abcdefgh", type="customer.subscription.created",
            created=now - datetime.timedelta(days=3 * i), payload={"id": i},
            status="processed" if i else "failed", member=member,
            error="" if i else "No member for customer cus_SomethingLongEnoughToWrap0001",
        )
    AccessAttempt.objects.create(
        username="someone@example.com", ip_address="203.0.113.9", user_agent="Mozilla/5.0",
        path_info="/admin/login/", failures_since_start=5, get_data="", post_data="",
    )
    record_refusal("No signature matches a configured webhook secret.", "2001:db8::1234",
                   b'{"id": "evt_LayoutRefusedAbcdefghijklmnop", "object": "event"}')
    run_checks(StripeSettings.load(), live_server.url + WEBHOOK_PATH)
    return {
        "member": Member.objects.get(email="subscriber.with.a.long.address0@members.example.com"),
        "state": SubscriptionState.objects.first(),
        "event": WebhookEvent.objects.first(),
        "checkout": Endpoint.objects.filter(operation="checkout").first(),
        "group": MemberGroup.objects.exclude(stripe_price_id=None).first(),
        "refused": RefusedDelivery.objects.first(),
    }


def admin_pages(console: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("index", "/admin/"),
        ("overview", "/admin/overview/"),
        ("members", "/admin/members/member/"),
        ("member-editor", f"/admin/members/member/{console['member'].pk}/change/"),
        ("member-groups", "/admin/members/membergroup/"),
        ("member-group-editor", f"/admin/members/membergroup/{console['group'].pk}/change/"),
        ("webhook-events", "/admin/payments/webhookevent/"),
        ("webhook-event", f"/admin/payments/webhookevent/{console['event'].pk}/change/"),
        ("refused-deliveries", "/admin/payments/refuseddelivery/"),
        ("refused-delivery",
         f"/admin/payments/refuseddelivery/{console['refused'].pk}/change/"),
        ("subscription-states", "/admin/payments/subscriptionstate/"),
        ("subscription-state",
         f"/admin/payments/subscriptionstate/{console['state'].pk}/change/"),
        ("stripe", "/admin/payments/stripesettings/1/change/"),
        ("apis", "/admin/rcms_api/api/"),
        ("api-editor", "/admin/rcms_api/api/1/change/"),
        ("endpoints", "/admin/rcms_api/endpoint/"),
        ("endpoint-checkout", f"/admin/rcms_api/endpoint/{console['checkout'].pk}/change/"),
        ("endpoint-add", "/admin/rcms_api/endpoint/add/?api=1&operation=checkout"),
        ("lockouts", "/admin/axes/accessattempt/"),
        ("staff-groups", "/admin/auth/group/"),
    ]


# The columns a person reads first on each list: visible without scrolling the list.
KEY_COLUMNS = {
    "members": ("email", "subscription_status_column", "plan_column", "period_end_column"),
    "webhook-events": ("event_id", "type", "status", "received_at"),
    "subscription-states": ("subscription", "member", "status", "current_period_end"),
    "endpoints": ("url_path", "method", "operation_label", "enabled"),
    "refused-deliveries": ("minute", "reason", "client_address", "count"),
}
# The pages the README shows (docs/screenshots/, `make screenshots`): one window's view each.
README_PAGES = {"overview": "admin-overview", "stripe": "admin-stripe",
                "member-editor": "admin-member-editor"}
# Inputs that hold a URL: wide enough to show one (px).
WIDE_INPUTS = {
    "endpoint-checkout": ("#id_return_url", "#id_return_err_url"),
    "endpoint-add": ("#id_return_url", "#id_return_err_url"),
}
URL_INPUT_MIN_PX = 400
HIDDEN_COLUMNS_JS = """(columns) => {
    const box = document.querySelector("#changelist .results").getBoundingClientRect();
    const right = Math.min(box.right, window.innerWidth);
    return columns.filter((name) => {
        const cell = document.querySelector(`#result_list th.column-${name}`);
        return !cell || cell.getBoundingClientRect().right > right + 1;
    });
}"""


def emulator_pages(stripe_ids: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("emulator-home", "/"),
        ("emulator-products", "/products"),
        ("emulator-product", f"/products/{stripe_ids['product']}"),
        ("emulator-webhooks", "/webhooks"),
        ("emulator-webhook", f"/webhooks/{stripe_ids['webhook']}"),
    ]


class PageWatch:
    """Console errors and failed requests, collected while pages load."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: self.problems.append(
            f"request failed: {req.url} ({req.failure})"))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def take(self) -> list[str]:
        found, self.problems = self.problems, []
        return found


def check_page(page: Any, watch: PageWatch, url: str, name: str) -> list[str]:
    page.goto(url, wait_until="networkidle")
    return check_loaded_page(page, watch, name)


def check_loaded_page(page: Any, watch: PageWatch, name: str) -> list[str]:
    scroll, inner = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    save_screenshot(page, name)
    problems = watch.take()
    if scroll > inner:
        problems.append(f"scrolls sideways: {scroll} px wide in a {inner} px window")
    key = KEY_COLUMNS.get(name.split("-", 2)[-1], ())
    if key and (hidden := page.evaluate(HIDDEN_COLUMNS_JS, list(key))):
        problems.append(f"key columns out of view: {hidden}")
    for selector in WIDE_INPUTS.get(name.split("-", 2)[-1], ()):
        width = page.evaluate(f"document.querySelector('{selector}').offsetWidth")
        if width < URL_INPUT_MIN_PX:
            problems.append(f"{selector} is {width} px wide, too narrow for a URL")
    return [f"{name}: {problem}" for problem in problems]


@pytest.mark.parametrize("width", WIDTHS)
def test_console_pages_fit_the_window_without_errors(
    browser_page, live_server, emulator, console, width
):
    import stripe

    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    watch = PageWatch(page)
    admin_login(page, live_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    watch.take()

    client = stripe.StripeClient(emulator.secret_key, base_addresses={"api": emulator.url})
    stripe_ids = {
        "product": client.v1.products.list().data[0].id,
        "webhook": client.v1.webhook_endpoints.list().data[0].id,
    }
    problems = []
    for name, path in admin_pages(console):
        problems += check_page(page, watch, live_server.url + path, f"layout-{width}-{name}")
        if width == README_PAGES_WIDTH and name in README_PAGES:
            page.screenshot(path=str(SCREENSHOT_DIR / f"{README_PAGES[name]}.png"))
    for name, path in emulator_pages(stripe_ids):
        problems += check_page(page, watch, emulator.url + path, f"layout-{width}-{name}")

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_lockout_page_fits_the_window_without_errors(browser_page, live_server, db, width):
    """Signing in to the admin once too often: the lockout page, in the site's look."""
    from django.conf import settings

    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    watch = PageWatch(page)
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        page.goto(f"{live_server.url}/admin/login/?next=/admin/", wait_until="networkidle")
        watch.take()  # only the lockout page is checked
        page.locator("#id_username").fill("locked.out@example.com")
        page.locator("#id_password").fill("not-the-password")
        with page.expect_navigation(wait_until="networkidle"):
            page.get_by_role("button", name="Log in", exact=True).click()

    page.get_by_role("heading", name="Sign-in locked for a while").wait_for()
    # The lockout itself answers 429 by design; anything else is a problem.
    problems = [p for p in check_loaded_page(page, watch, f"layout-{width}-lockout")
                if "HTTP 429: " not in p and "status of 429" not in p]
    assert not problems, "\n".join(problems)
    page.get_by_role("link", name="Back to the sign-in page").click()
    page.locator("#id_password").wait_for()
