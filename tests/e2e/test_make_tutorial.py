"""README "Following the Kuroco tutorial", in Chromium, from the state `make tutorial` seeds.

``seed_demo --tutorial`` as `make tutorial` runs it; then each step of the README: the
emulator's dashboard (keys, webhook endpoint and its secret, product and price), the admin
(the Stripe screen, the group's price, the checkout endpoint's product) and paying on
/demo/. Screenshots: test-artifacts/screenshots/make-tutorial-NN-….
"""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.management import call_command

from kuroco_billing.rcms_api.models import Endpoint
from payments.models import WEBHOOK_EVENTS

from .pages import (
    ID_RE,
    Screenshots,
    admin_index_link,
    admin_login,
    dashboard_nav,
    field,
    pay_on_hosted_page,
    submit,
    subscribe_button,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 15_000


@pytest.fixture
def tutorial_seed(emulator, live_server, app_on_emulator, settings) -> str:
    settings.DEMO_SITE_URL = live_server.url
    out = io.StringIO()
    call_command("seed_demo", "--tutorial", stdout=out)
    assert "Following the Kuroco tutorial" in out.getvalue()
    return app_on_emulator


def test_the_readme_tutorial_from_the_tutorial_seed(browser_page, member_page, emulator,
                                                    live_server, tutorial_seed):
    site, webhook_url = live_server.url, tutorial_seed
    shot = Screenshots("make-tutorial")
    admin = browser_page
    admin.set_default_timeout(WAIT_MS)

    # 1. In Stripe (the emulator's dashboard).
    admin.goto(emulator.url + "/")
    dashboard_nav(admin, "API keys")
    publishable_key = admin.locator("#publishable-key").inner_text().strip()
    secret_key = admin.locator("#secret-key").inner_text().strip()
    dashboard_nav(admin, "Webhooks")
    admin.get_by_label("Endpoint URL").fill(webhook_url)
    for event in WEBHOOK_EVENTS:
        admin.get_by_label(event, exact=True).check()
    submit(admin, "Add endpoint")
    submit(admin, "Reveal signing secret")
    webhook_secret = admin.locator("#signing-secret").inner_text().strip()
    dashboard_nav(admin, "Products")
    admin.get_by_label(field("Name")).fill("Basic")
    admin.get_by_label("Price amount").fill("1000")
    submit(admin, "Add product")
    price_id = admin.locator(".price-id").first.inner_text().strip()
    assert ID_RE["price"].match(price_id), price_id
    shot(admin, "stripe-price")

    # 2. In the admin: the Stripe screen, the group's price, the checkout endpoint's product.
    admin_login(admin, site, settings.DEMO_ADMIN_EMAIL, settings.DEMO_ADMIN_PASSWORD)
    admin.goto(f"{site}/admin/payments/stripesettings/")
    admin.get_by_label("Publishable key").fill(publishable_key)
    admin.get_by_label(field("Secret key")).fill(secret_key)
    admin.get_by_label(field("Webhook signing secret")).fill(webhook_secret)
    admin.get_by_label(field("Enabled")).check()
    submit(admin, "Save")
    shot(admin, "admin-stripe")

    admin_index_link(admin, site, "members", "Member groups")
    admin.get_by_role("link", name="Basic members").click()
    admin.get_by_label("Stripe price ID").fill(price_id)
    submit(admin, "Save")
    assert not admin.locator(".errorlist").count(), admin.locator(".errorlist").all_inner_texts()

    checkout = Endpoint.objects.get(api_id=1, path="stripe/checkout")
    admin.goto(f"{site}/admin/rcms_api/endpoint/{checkout.pk}/change/")
    admin.get_by_label("Products (price IDs)").fill(price_id)
    shot(admin, "admin-checkout-endpoint")
    submit(admin, "Save")
    assert not admin.locator(".errorlist").count(), admin.locator(".errorlist").all_inner_texts()

    # 3. Pay on /demo/ and come back a member of Basic members.
    page = member_page
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{site}/demo/")
    page.locator("#email").fill(settings.DEMO_MEMBER_EMAIL)
    page.locator("#password").fill(settings.DEMO_MEMBER_PASSWORD)
    page.locator("#login-button").click()
    page.locator("#profile").wait_for()
    with page.expect_navigation(url=f"{emulator.url}/c/pay/**"):
        page.locator("#subscribe-button").click()
    pay_on_hosted_page(page, name="Demo Member")
    with page.expect_navigation(url=f"{site}/demo/?checkout=success"):
        subscribe_button(page).click()
    page.get_by_text("Subscribed: you are now in Basic members.").wait_for()
    shot(page, "demo-subscribed")
    assert page.locator("#groups").inner_text().strip() == "Basic members"
