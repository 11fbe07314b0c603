"""Admin screens that ask Stripe (the emulator, over real HTTP)."""

import pytest
import requests

from members.models import Member, MemberGroup, Membership
from payments.models import WEBHOOK_EVENTS, StripeSettings

SETTINGS_URL = "/admin/payments/stripesettings/1/change/"
GROUP_ADD = "/admin/members/membergroup/add/"
WEBHOOK_URL = "http://testserver/direct/stripe/webhook/"
CLOSED_PORT = "http://127.0.0.1:9"


@pytest.fixture
def stripe_unreachable(settings):
    settings.STRIPE_API_BASE = CLOSED_PORT
    settings.STRIPE_MAX_NETWORK_RETRIES = 0


def store_keys(secret_key, publishable_key, *, enabled, webhook_secret="whsec_stored1"):
    config = StripeSettings.load()
    config.enabled = enabled
    config.publishable_key = publishable_key
    config.secret_key = secret_key
    config.webhook_secret = webhook_secret
    config.save()
    return config


def recurring_price(stripe_client, *, recurring=True):
    product = stripe_client.v1.products.create(params={"name": "Gold plan"})
    params = {"product": product.id, "unit_amount": 1000, "currency": "jpy"}
    if recurring:
        params["recurring"] = {"interval": "month"}
    return stripe_client.v1.prices.create(params=params).id


def subscribe(stripe_client, emulator, email, price_id):
    """A customer paying for ``price_id`` through the emulator's hosted checkout page."""
    customer = stripe_client.v1.customers.create(params={"email": email})
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": customer.id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": "http://testserver/thanks", "cancel_url": "http://testserver/sorry",
    })
    paid = requests.post(f"{emulator.url}/c/pay/{session.id}", data={
        "card_number": "4242424242424242", "card_expiry": "12/40", "card_cvc": "123",
        "cardholder_name": "Payer",
    }, allow_redirects=False, timeout=30)
    assert paid.status_code == 303, paid.text
    [subscription] = stripe_client.v1.subscriptions.list(params={"customer": customer.id}).data
    return customer.id, subscription


def enable_form(**extra):
    return {"enabled": "on", "publishable_key": "", "secret_key": "", "webhook_secret": "",
            "previous_webhook_secret": "", "previous_webhook_secret_expires_at_0": "",
            "previous_webhook_secret_expires_at_1": "", **extra}


def messages_of(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


# --- Setup checks after saving the Stripe settings --------------------------------------

@pytest.mark.emulator_options(allow_remote_webhooks=True)  # the admin's URL is testserver
def test_enabling_checks_the_setup_and_reports_success(staff_client, on_emulator, stripe_client):
    created = stripe_client.v1.webhook_endpoints.create(
        params={"url": WEBHOOK_URL, "enabled_events": list(WEBHOOK_EVENTS)}
    )
    price_id = recurring_price(stripe_client)
    MemberGroup.objects.create(name="Gold", stripe_price_id=price_id)
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=False,
               webhook_secret=created.secret)

    response = staff_client.post(SETTINGS_URL, enable_form(
        publishable_key=on_emulator.publishable_key), follow=True)

    assert response.status_code == 200
    found = messages_of(response)
    assert all(level == "success" for level, _ in found), found
    texts = " | ".join(text for _, text in found)
    assert "The secret key works" in texts
    assert f"A webhook endpoint sends the subscription events to {WEBHOOK_URL}." in texts
    assert f"Group Gold: price {price_id} is active and recurring." in texts
    assert StripeSettings.load().enabled
    assert on_emulator.secret_key not in response.content.decode()


@pytest.mark.emulator_options(allow_remote_webhooks=True)
def test_setup_problems_are_error_messages(staff_client, on_emulator, stripe_client):
    stripe_client.v1.webhook_endpoints.create(
        params={"url": WEBHOOK_URL, "enabled_events": ["customer.subscription.created"]}
    )
    MemberGroup.objects.create(name="Ghost", stripe_price_id="price_doesnotexist1")
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=False)

    response = staff_client.post(SETTINGS_URL, enable_form(
        publishable_key=on_emulator.publishable_key), follow=True)

    errors = [text for level, text in messages_of(response) if level == "error"]
    assert (f"The webhook endpoint for {WEBHOOK_URL} does not send: "
            "customer.subscription.deleted, customer.subscription.updated.") in errors
    assert "Group Ghost: price price_doesnotexist1 does not exist." in errors
    # The settings are saved all the same: the checks advise, they do not block.
    assert StripeSettings.load().enabled


def test_unreachable_stripe_is_a_form_error_not_a_500(staff_client, stripe_unreachable, db):
    store_keys("sk_test_unreachable1", "pk_test_unreachable1", enabled=False)

    response = staff_client.post(SETTINGS_URL, enable_form(
        publishable_key="pk_test_unreachable1"), follow=True)

    assert response.status_code == 200
    # Enabling with a key that could not be checked is refused (tests/admin/test_stripe_screen.py).
    [error] = response.context["adminform"].form.non_field_errors()
    assert ("The secret key does not work: Stripe could not be reached "
            "(network error or timeout).") in error


def test_saving_while_disabled_does_not_ask_stripe(staff_client, stripe_unreachable, db):
    store_keys("sk_test_unreachable1", "pk_test_unreachable1", enabled=False)

    response = staff_client.post(SETTINGS_URL, enable_form(
        enabled="", publishable_key="pk_test_unreachable1"), follow=True)

    assert [level for level, _ in messages_of(response)] == ["success"]


# --- A group's price, checked with Stripe when it changes ------------------------------

@pytest.fixture
def enabled_on_emulator(on_emulator):
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=True)
    return on_emulator


def test_recurring_price_is_accepted(staff_client, enabled_on_emulator, stripe_client):
    price_id = recurring_price(stripe_client)

    response = staff_client.post(GROUP_ADD, {"name": "Gold", "stripe_price_id": price_id},
                                 follow=True)

    assert MemberGroup.objects.get(name="Gold").stripe_price_id == price_id
    assert [level for level, _ in messages_of(response)] == ["success"]


def test_unknown_price_is_a_form_error(staff_client, enabled_on_emulator):
    response = staff_client.post(GROUP_ADD, {"name": "Gold",
                                             "stripe_price_id": "price_unknown1"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["stripe_price_id"] == [
        "No such price in Stripe: price_unknown1."
    ]
    assert not MemberGroup.objects.exists()


def test_one_time_price_is_a_form_error(staff_client, enabled_on_emulator, stripe_client):
    price_id = recurring_price(stripe_client, recurring=False)

    response = staff_client.post(GROUP_ADD, {"name": "Gold", "stripe_price_id": price_id})

    assert response.context["adminform"].form.errors["stripe_price_id"] == [
        "One-time purchases are not supported: choose a recurring price."
    ]


def test_inactive_price_is_a_form_error(staff_client, enabled_on_emulator, stripe_client):
    price_id = recurring_price(stripe_client)
    stripe_client.v1.prices.update(price_id, params={"active": False})

    response = staff_client.post(GROUP_ADD, {"name": "Gold", "stripe_price_id": price_id})

    assert response.context["adminform"].form.errors["stripe_price_id"] == [
        f"The price {price_id} is not active."
    ]


def test_a_price_of_an_archived_product_is_a_form_error_and_a_setup_error(
        staff_client, enabled_on_emulator, stripe_client):
    """The price stays active, but Stripe sells no price of an archived product."""
    price_id = recurring_price(stripe_client)
    product = stripe_client.v1.prices.retrieve(price_id).product
    stripe_client.v1.products.update(product, params={"active": False})

    response = staff_client.post(GROUP_ADD, {"name": "Gold", "stripe_price_id": price_id})

    assert response.context["adminform"].form.errors["stripe_price_id"] == [
        f"The price {price_id} belongs to an archived product; Stripe does not sell it."]
    MemberGroup.objects.create(name="Gold", stripe_price_id=price_id)  # linked before
    response = staff_client.post(SETTINGS_URL, enable_form(
        publishable_key=enabled_on_emulator.publishable_key), follow=True)
    errors = [text for level, text in messages_of(response) if level == "error"]
    assert (f"Group Gold: price {price_id} belongs to an archived product (Stripe does not "
            "sell it).") in errors


def test_unreachable_stripe_saves_with_a_warning(staff_client, db, settings):
    store_keys("sk_test_unreachable1", "pk_test_unreachable1", enabled=True)
    settings.STRIPE_API_BASE = CLOSED_PORT
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    response = staff_client.post(GROUP_ADD, {"name": "Gold",
                                             "stripe_price_id": "price_later1"}, follow=True)

    assert MemberGroup.objects.get(name="Gold").stripe_price_id == "price_later1"
    assert ("warning", "The price could not be checked: Stripe could not be reached "
                       "(network error or timeout).") in messages_of(response)


def test_unchanged_price_is_not_checked_again(staff_client, db, settings):
    store_keys("sk_test_unreachable1", "pk_test_unreachable1", enabled=True)
    settings.STRIPE_API_BASE = CLOSED_PORT
    group = MemberGroup.objects.create(name="Gold", stripe_price_id="price_kept1")

    response = staff_client.post(f"/admin/members/membergroup/{group.pk}/change/",
                                 {"name": "Gold plus", "stripe_price_id": "price_kept1"},
                                 follow=True)

    assert [level for level, _ in messages_of(response)] == ["success"]


# --- The member editor and the resync action ---------------------------------------------

def test_member_editor_shows_subscription_and_dashboard_links(
    staff_client, enabled_on_emulator, stripe_client
):
    price_id = recurring_price(stripe_client)
    customer_id, subscription = subscribe(stripe_client, enabled_on_emulator,
                                          "payer@example.com", price_id)
    payer = Member.objects.create_user("payer@example.com", "payer-pass-123",
                                       stripe_customer_id=customer_id,
                                       stripe_subscription_id=subscription.id)

    html = staff_client.get(f"/admin/members/member/{payer.pk}/change/").content.decode()

    base = enabled_on_emulator.url
    assert (f'<a href="{base}/customers/{customer_id}" target="_blank" '
            f'rel="noopener noreferrer">{customer_id}</a>') in html
    assert (f'<a href="{base}/subscriptions/{subscription.id}" target="_blank" '
            f'rel="noopener noreferrer">{subscription.id}</a>') in html
    assert '<div class="readonly">active</div>' in html
    period_end = subscription["items"]["data"][0]["current_period_end"]
    import datetime as dt
    expected = dt.datetime.fromtimestamp(period_end, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
    assert expected in html


def test_resync_brings_the_member_in_line_with_stripe(
    staff_client, enabled_on_emulator, stripe_client
):
    price_id = recurring_price(stripe_client)
    gold = MemberGroup.objects.create(name="Gold", stripe_price_id=price_id)
    customer_id, subscription = subscribe(stripe_client, enabled_on_emulator,
                                          "payer@example.com", price_id)
    payer = Member.objects.create_user("payer@example.com", "payer-pass-123",
                                       stripe_customer_id=customer_id)

    response = staff_client.post("/admin/members/member/", {
        "action": "resync_from_stripe", "_selected_action": [payer.pk]}, follow=True)

    found = messages_of(response)
    assert found and all(level == "success" for level, _ in found), found
    assert all(text.startswith("payer@example.com: ") for _, text in found)
    payer.refresh_from_db()
    assert payer.stripe_subscription_id == subscription.id
    assert Membership.objects.filter(member=payer, group=gold, source="stripe").exists()

    again = staff_client.post("/admin/members/member/", {
        "action": "resync_from_stripe", "_selected_action": [payer.pk]}, follow=True)
    assert messages_of(again) == [("info", "payer@example.com: already in sync.")]


def test_staff_who_may_only_view_members_cannot_resync(client, db, enabled_on_emulator,
                                                       stripe_client):
    """The resync writes the member (subscription, paid groups): "change member" only."""
    from django.contrib.auth.models import Permission

    price_id = recurring_price(stripe_client)
    gold = MemberGroup.objects.create(name="Gold", stripe_price_id=price_id)
    customer_id, _ = subscribe(stripe_client, enabled_on_emulator, "payer@example.com",
                               price_id)
    payer = Member.objects.create_user("payer@example.com", "payer-pass-123",
                                       stripe_customer_id=customer_id)
    viewer = Member.objects.create_user("viewer@example.com", "viewer-pass-123",
                                        is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_member"))
    client.force_login(viewer)

    listing = client.get("/admin/members/member/").content.decode()
    client.post("/admin/members/member/", {
        "action": "resync_from_stripe", "_selected_action": [payer.pk]})

    assert "resync_from_stripe" not in listing  # not offered
    payer.refresh_from_db()
    assert payer.stripe_subscription_id is None
    assert not Membership.objects.filter(member=payer, group=gold).exists()


def test_resync_with_stripe_unreachable_is_an_error_message(staff_client, db, settings):
    store_keys("sk_test_unreachable1", "pk_test_unreachable1", enabled=True)
    settings.STRIPE_API_BASE = CLOSED_PORT
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    payer = Member.objects.create_user("payer@example.com", "payer-pass-123",
                                       stripe_customer_id="cus_far1")

    response = staff_client.post("/admin/members/member/", {
        "action": "resync_from_stripe", "_selected_action": [payer.pk]}, follow=True)

    assert response.status_code == 200
    assert messages_of(response) == [(
        "error", "payer@example.com: Could not read subscriptions from Stripe: Stripe could "
                 "not be reached (network error or timeout).",
    )]
