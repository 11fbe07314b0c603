"""The Kuroco tutorial "Integrating and setting up subscription billing with Stripe", in Chromium.

Two people, two browsers: the administrator (Stripe's dashboard, here the
emulator's, and the Django admin) and the member (Swagger UI, Stripe Checkout).
The app runs on ``live_server`` and talks to a live emulator over HTTP; the
emulator's webhooks come back to the app. Every step leaves a screenshot in
test-artifacts/screenshots/ (``tutorial-NN-…``).
"""

from __future__ import annotations

import re

import pytest

from payments.models import WEBHOOK_EVENTS
from tests.fixtures.accounts import ADMIN_EMAIL, ADMIN_PASSWORD, MEMBER_EMAIL, MEMBER_PASSWORD

from .pages import (
    ID_RE,
    Screenshots,
    admin_index_link,
    admin_login,
    admin_messages,
    dashboard_nav,
    field,
    pay_on_hosted_page,
    poll_page,
    readonly_value,
    submit,
    subscribe_button,
    swagger_execute,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GROUP_NAME = "Premium members"
EMPTY = "—"


def test_tutorial_subscription_billing_with_stripe(
    browser_page,
    member_page,
    emulator,
    stripe_client,
    live_server,
    app_on_emulator,
    admin_user,
    member,
):
    site = live_server.url
    webhook_url = app_on_emulator
    shot = Screenshots("tutorial")
    admin = browser_page
    admin.set_default_timeout(15_000)

    # --- 1. Stripe's dashboard: keys, webhook endpoint and its secret, product and price ---
    admin.goto(emulator.url + "/")
    dashboard_nav(admin, "API keys")
    publishable_key = admin.locator("#publishable-key").inner_text().strip()
    secret_key = admin.locator("#secret-key").inner_text().strip()
    assert publishable_key.startswith("pk_test_"), publishable_key
    assert secret_key.startswith("sk_test_"), secret_key
    shot(admin, "stripe-api-keys")

    dashboard_nav(admin, "Webhooks")
    admin.get_by_label("Endpoint URL").fill(webhook_url)
    admin.get_by_label("Description").fill("Kuroco Billing")
    for event in WEBHOOK_EVENTS:
        admin.get_by_label(event, exact=True).check()
    shot(admin, "stripe-add-webhook-endpoint")
    submit(admin, "Add endpoint")
    submit(admin, "Reveal signing secret")
    webhook_secret = admin.locator("#signing-secret").inner_text().strip()
    assert webhook_secret.startswith("whsec_"), webhook_secret
    shot(admin, "stripe-webhook-signing-secret")

    dashboard_nav(admin, "Products")
    admin.get_by_label(field("Name")).fill("Premium plan")
    admin.get_by_label("Price amount").fill("1000")
    admin.get_by_label("Currency").select_option(label="JPY")
    admin.get_by_label("Billing period").select_option(label="Monthly")
    shot(admin, "stripe-add-product")
    submit(admin, "Add product")
    price_id = admin.locator(".price-id").first.inner_text().strip()
    assert ID_RE["price"].match(price_id), price_id
    shot(admin, "stripe-price-id")

    # --- 2. Admin: External system integration → Stripe ------------------------------------
    admin_login(admin, site, ADMIN_EMAIL, ADMIN_PASSWORD)
    # Until Stripe is enabled a member group has no price to set.
    admin.goto(f"{site}/admin/members/membergroup/add/")
    admin.get_by_label(field("Name")).wait_for()
    assert not admin.get_by_label("Stripe price ID").count()
    admin.goto(f"{site}/admin/")
    module = admin.locator(".app-settings")
    assert module.locator("caption").text_content().strip() == "Settings"
    shot(admin, "admin-index")
    module.get_by_role("link", name="Stripe", exact=True).click()
    assert admin.locator("#stripe-webhook-url").inner_text().strip() == webhook_url
    admin.get_by_label("Publishable key").fill(publishable_key)
    admin.get_by_label(field("Secret key")).fill(secret_key)
    admin.get_by_label(field("Webhook signing secret")).fill(webhook_secret)
    admin.get_by_label(field("Enabled")).check()
    shot(admin, "admin-stripe-settings-filled")
    submit(admin, "Save")

    messages = admin_messages(admin)
    shot(admin, "admin-stripe-settings-saved")
    assert not messages.get("error"), messages
    successes = " ".join(messages.get("success", []))
    assert "The secret key works" in successes, messages
    assert f"A webhook endpoint sends the subscription events to {webhook_url}" in successes
    assert admin.locator("#stripe-webhook-url").inner_text().strip() == webhook_url
    assert admin.locator("#stripe-mode").inner_text().strip() == "TEST"
    assert admin.get_by_label(field("Enabled")).is_checked()
    html = admin.content()
    assert secret_key not in html and webhook_secret not in html, "a secret is on the page"

    # --- 3. A member group sold for that price --------------------------------------------
    admin_index_link(admin, site, "billing", "Member groups")
    admin.get_by_role("link", name="Add member group").click()
    admin.get_by_label(field("Name")).fill(GROUP_NAME)
    admin.get_by_label("Stripe price ID").fill(price_id)
    shot(admin, "admin-member-group-filled")
    submit(admin, "Save")
    assert any(GROUP_NAME in text for text in admin_messages(admin).get("success", []))
    group_row = admin.locator("#result_list tr").filter(has_text=GROUP_NAME)
    assert price_id in group_row.inner_text()
    shot(admin, "admin-member-groups")

    # --- 4. An API with login and profile, then the checkout and cancel_order endpoints ---
    admin_index_link(admin, site, "rcms_api", "APIs")
    admin.get_by_role("link", name="Add API").click()
    admin.get_by_label("Title").fill("Tutorial API")
    admin.get_by_label("Security").select_option(label="Cookie")
    for row, (path, operation) in enumerate([("login", "login_challenge"), ("profile", "profile")]):
        admin.get_by_text("Add another endpoint").click()
        admin.locator(f"#id_endpoints-{row}-path").fill(path)
        admin.locator(f"#id_endpoints-{row}-operation").select_option(value=operation)
    shot(admin, "admin-api-filled")
    submit(admin, "Save and continue editing")
    api_id = int(re.search(r"/rcms_api/api/(\d+)/change/", admin.url).group(1))
    assert admin_messages(admin).get("success"), admin_messages(admin)

    return_url = f"{site}/demo/?checkout=success"
    cancel_url = f"{site}/demo/?checkout=cancel"
    admin_index_link(admin, site, "rcms_api", "Endpoints")
    admin.get_by_role("link", name="Add endpoint").click()
    admin.get_by_label(field("API")).select_option(label=f"Tutorial API (#{api_id})")
    admin.get_by_label("Path").fill("stripe/checkout")
    admin.get_by_label("Operation").select_option(value="checkout")
    admin.get_by_label("Products (price IDs)").fill(price_id)
    admin.get_by_label(field("Return URL")).fill(return_url)
    admin.get_by_label("Return URL on cancel or error").fill(cancel_url)
    shot(admin, "admin-checkout-endpoint-filled")
    submit(admin, "Save and add another")
    assert not admin.locator(".errorlist").count(), admin.locator(".errornote").all_inner_texts()
    admin.get_by_label(field("API")).select_option(label=f"Tutorial API (#{api_id})")
    admin.get_by_label("Path").fill("stripe/cancel")
    admin.get_by_label("Operation").select_option(value="cancel_order")
    submit(admin, "Save")
    assert not admin.locator(".errorlist").count(), admin.locator(".errornote").all_inner_texts()
    shot(admin, "admin-endpoints")

    admin.goto(f"{site}/admin/rcms_api/api/{api_id}/change/")
    swagger_link = admin.get_by_role("link", name="Swagger UI for this API")
    swagger_path = swagger_link.get_attribute("href")
    assert swagger_path == f"/rcms-api/{api_id}/swagger/"
    overview = admin.locator(".field-endpoint_overview").inner_text()
    for path in ("login", "profile", "stripe/checkout", "stripe/cancel"):
        assert f"/rcms-api/{api_id}/{path}" in overview, overview
    shot(admin, "admin-api-endpoints-overview")

    # --- 5. The member, in Swagger UI: sign in, checkout --------------------------------
    api_path = f"/rcms-api/{api_id}"
    member_page.goto(site + swagger_path)
    member_page.locator(".opblock").first.wait_for()
    answer = swagger_execute(
        member_page,
        f"{api_path}/login",
        {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD, "login_save": False},
    )
    shot(member_page, "swagger-login")
    assert answer.status == 200, answer.text
    assert answer.body["member_id"] == member.pk

    answer = swagger_execute(member_page, f"{api_path}/stripe/checkout")
    shot(member_page, "swagger-checkout")
    assert answer.status == 200, answer.text
    checkout_url = answer.body["url"]
    assert checkout_url.startswith(f"{emulator.url}/c/pay/cs_"), checkout_url

    # --- 6. Pay on Stripe's page, land on the return URL, see the membership ------------
    member_page.goto(checkout_url)
    assert "Premium plan" in member_page.locator("body").inner_text()
    pay_on_hosted_page(member_page)
    shot(member_page, "stripe-checkout-filled")
    with member_page.expect_response(lambda response: response.url == return_url) as landing:
        subscribe_button(member_page).click()
    assert landing.value.status == 200
    member_page.wait_for_load_state()
    shot(member_page, "return-url")

    emulator.drain()
    member_editor = f"{site}/admin/members/member/{member.pk}/change/"
    admin.goto(member_editor)
    subscribed = poll_page(
        admin, lambda: ID_RE["sub"].match(readonly_value(admin, "stripe_subscription"))
    )
    shot(admin, "admin-member-subscribed")
    assert subscribed, readonly_value(admin, "stripe_subscription")
    customer_id = readonly_value(admin, "stripe_customer")
    subscription_id = readonly_value(admin, "stripe_subscription")
    assert ID_RE["cus"].match(customer_id), customer_id
    # Each ID links to that object in Stripe's dashboard (here the emulator's).
    customer_link = admin.locator(".field-stripe_customer .readonly a")
    assert customer_link.get_attribute("href") == f"{emulator.url}/customers/{customer_id}"
    assert readonly_value(admin, "subscription_status") == "active"
    membership = admin.locator("#memberships-group tbody tr.has_original")
    assert membership.count() == 1
    assert membership.locator("select[name$='-group'] option:checked").inner_text() == GROUP_NAME
    assert "By a Stripe subscription" in membership.inner_text()
    assert subscription_id in membership.inner_text()
    # The IDs the admin shows are Stripe's: the customer's one subscription, for our price.
    stripe_subs = stripe_client.v1.subscriptions.list(params={"customer": customer_id}).data
    assert [s.id for s in stripe_subs] == [subscription_id]
    assert stripe_subs[0]["items"]["data"][0]["price"]["id"] == price_id

    group_id = membership.locator("select[name$='-group'] option:checked").get_attribute("value")
    member_page.goto(site + swagger_path)
    answer = swagger_execute(member_page, f"{api_path}/profile")
    shot(member_page, "swagger-profile-subscribed")
    assert answer.status == 200, answer.text
    assert answer.body["group_ids"] == {group_id: GROUP_NAME}
    assert answer.body["stripe_customer_id"] == customer_id
    assert answer.body["stripe_subscription_id"] == subscription_id

    # --- 7. cancel_order: the subscription and the group are gone ----------------------
    answer = swagger_execute(member_page, f"{api_path}/stripe/cancel", {})
    shot(member_page, "swagger-cancel-order")
    assert answer.status == 200, answer.text
    assert answer.body["subscription_id"] == subscription_id
    assert answer.body["messages"] == ["Subscription canceled."]

    emulator.drain()
    admin.goto(member_editor)
    canceled = poll_page(
        admin,
        lambda: (
            readonly_value(admin, "stripe_subscription") == EMPTY
            and not admin.locator("#memberships-group tbody tr.has_original").count()
        ),
    )
    shot(admin, "admin-member-canceled")
    assert canceled, admin.locator("#memberships-group").inner_text()
    assert readonly_value(admin, "stripe_customer") == customer_id  # the customer stays

    answer = swagger_execute(member_page, f"{api_path}/profile")
    shot(member_page, "swagger-profile-canceled")
    assert answer.status == 200, answer.text
    assert answer.body["group_ids"] == {}
    assert answer.body["stripe_subscription_id"] is None

    admin.goto(f"{emulator.url}/subscriptions/{subscription_id}")
    assert "canceled" in admin.locator("#subscription-status").inner_text()
    shot(admin, "stripe-subscription-canceled")
