"""The Stripe screen: its title, the status panel, "Run the checks", refusing bad keys."""

import html as html_text
import re

import pytest
from django.test import Client

from members.models import MemberGroup
from payments.models import WEBHOOK_EVENTS, SetupCheckResult, StripeSettings
from payments.setup_checks import _webhook_check
from tests.admin.test_stripe_checks import (
    SETTINGS_URL,
    WEBHOOK_URL,
    enable_form,
    messages_of,
    recurring_price,
    store_keys,
)

RUN_URL = "/admin/payments/stripesettings/1/run-checks/"
WRONG_SECRET = "sk_test_NotAKeyStripeKnows4321"
NEVER_SENT_BACK = "a pasted secret is never sent back to the browser"


def panel_rows(html: str) -> list[tuple[str, str, str]]:
    """(item, result, details) of each line of the status panel."""
    table = re.search(r'<table id="setup-results">(.*?)</table>', html, re.S)
    assert table, "no status panel table"
    rows = re.findall(r'<th scope="row">(.*?)</th>\s*<td><span[^>]*>(.*?)</span></td>\s*'
                      r"<td>(.*?)</td>", table.group(1), re.S)
    return [(item, level, html_text.unescape(re.sub(r"\s+", " ", details)))
            for item, level, details in rows]


def endpoint(stripe_client, url=WEBHOOK_URL, events=WEBHOOK_EVENTS):
    return stripe_client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": list(events)})


# --- Names ----------------------------------------------------------------------------

def test_title_breadcrumb_and_saved_message_read_as_a_person_would(staff_client, db):
    html = staff_client.get(SETTINGS_URL).content.decode()

    assert "<h1>External system integration → Stripe</h1>" in html
    assert "Change Stripe" not in html
    breadcrumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S).group(1)
    words = re.sub(r"<[^>]+>|\s+", " ", breadcrumbs).split()
    assert words == ["Home", "\u203a", "Settings", "\u203a", "Stripe"]

    saved = staff_client.post(SETTINGS_URL, enable_form(enabled=""), follow=True)
    assert messages_of(saved) == [("success", "The Stripe settings were saved.")]
    assert "was changed successfully" not in saved.content.decode()


# --- The status panel -----------------------------------------------------------------

def test_the_panel_says_when_nothing_was_checked_yet(staff_client, db):
    html = staff_client.get(SETTINGS_URL).content.decode()

    assert "The setup has not been checked yet." in html
    assert ">Run the checks</button>" in html


@pytest.mark.emulator_options(allow_remote_webhooks=True)
def test_run_the_checks_stores_each_item_with_its_time(staff_client, on_emulator, stripe_client):
    signing_secret = endpoint(stripe_client).secret
    price_id = recurring_price(stripe_client)
    MemberGroup.objects.create(name="Gold", stripe_price_id=price_id)
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=True,
               webhook_secret=signing_secret)

    response = staff_client.post(RUN_URL, follow=True)

    assert response.redirect_chain[-1][0] == SETTINGS_URL
    reloaded = staff_client.get(SETTINGS_URL).content.decode()  # it stays after a reload
    assert [(item, level) for item, level, _ in panel_rows(reloaded)] == [
        ("Secret key", "OK"), ("Webhook endpoint", "OK"), ("Group Gold", "OK")]
    checked = SetupCheckResult.objects.first().checked_at
    from django.utils import timezone
    from django.utils.formats import date_format
    assert date_format(timezone.localtime(checked), "DATETIME_FORMAT") in reloaded
    assert on_emulator.secret_key not in reloaded


@pytest.mark.emulator_options(allow_remote_webhooks=True)
def test_a_new_run_replaces_the_old_lines(staff_client, on_emulator, stripe_client):
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=True)
    MemberGroup.objects.create(name="Ghost", stripe_price_id="price_gone1")
    staff_client.post(RUN_URL)
    MemberGroup.objects.all().delete()

    staff_client.post(RUN_URL)

    html = staff_client.get(SETTINGS_URL).content.decode()
    items = [item for item, _, _ in panel_rows(html)]
    assert items == ["Secret key", "Webhook endpoint", "Member groups"]
    assert "No Stripe webhook endpoint sends to" in html


def test_run_the_checks_is_a_post_with_a_csrf_token(db, admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    assert browser.get(RUN_URL).status_code == 405
    assert browser.post(RUN_URL).status_code == 403
    assert not SetupCheckResult.objects.exists()


def test_view_only_staff_get_no_button_and_cannot_run(client, db):
    from django.contrib.auth.models import Permission

    from members.models import Member

    viewer = Member.objects.create_user("viewer@example.com", "viewer-pass-123",
                                        is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_stripesettings"))
    client.post("/admin/login/?next=/admin/",
                {"username": "viewer@example.com", "password": "viewer-pass-123"})

    assert "Run the checks" not in client.get(SETTINGS_URL).content.decode()
    assert client.post(RUN_URL).status_code == 403


def test_unreachable_stripe_is_a_panel_line_not_a_500(staff_client, db, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    store_keys("sk_test_unreachable1", "pk_test_unreachable1", enabled=True)

    response = staff_client.post(RUN_URL, follow=True)

    assert response.status_code == 200
    assert panel_rows(response.content.decode()) == [(
        "Secret key", "Problem",
        "The secret key does not work: Stripe could not be reached (network error or "
        "timeout).")]


# --- Enabling with a key that does not work --------------------------------------------

def test_enabling_with_a_bad_key_is_refused_with_the_reason(staff_client, on_emulator):
    store_keys("", "", enabled=False, webhook_secret="")

    response = staff_client.post(SETTINGS_URL, enable_form(
        publishable_key=on_emulator.publishable_key, secret_key=WRONG_SECRET,
        webhook_secret="whsec_typed0001"))

    assert response.status_code == 200
    html = response.content.decode()
    [error] = response.context["adminform"].form.non_field_errors()
    assert error.startswith("Stripe was not enabled and nothing was saved. "
                            "The secret key does not work: Stripe refused this site's API key.")
    assert NEVER_SENT_BACK in error
    assert WRONG_SECRET not in html and "whsec_typed0001" not in html
    stored = StripeSettings.load()
    assert not stored.enabled and stored.secret_key == ""
    assert "changed successfully" not in html and "were saved" not in html


def test_typing_a_bad_key_while_enabled_is_refused(staff_client, on_emulator):
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=True)

    response = staff_client.post(SETTINGS_URL, enable_form(
        publishable_key=on_emulator.publishable_key, secret_key=WRONG_SECRET))

    assert response.status_code == 200
    assert StripeSettings.load().secret_key == on_emulator.secret_key


def test_unreachable_stripe_refuses_enabling_too(staff_client, db, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    store_keys("sk_test_unreachable1", "pk_test_unreachable1", enabled=False)

    response = staff_client.post(SETTINGS_URL, enable_form(
        publishable_key="pk_test_unreachable1"))

    [error] = response.context["adminform"].form.non_field_errors()
    assert "Stripe could not be reached" in error
    assert not StripeSettings.load().enabled


@pytest.mark.emulator_options(allow_remote_webhooks=True)
def test_enabling_with_a_working_key_saves_and_fills_the_panel(
    staff_client, on_emulator, stripe_client
):
    endpoint(stripe_client)
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=False)

    response = staff_client.post(SETTINGS_URL, enable_form(
        publishable_key=on_emulator.publishable_key), follow=True)

    assert StripeSettings.load().enabled
    assert ("success", "The Stripe settings were saved.") in messages_of(response)
    assert panel_rows(response.content.decode())[0][:2] == ("Secret key", "OK")


# --- Several endpoints for our URL ------------------------------------------------------

@pytest.mark.emulator_options(allow_remote_webhooks=True)
def test_several_endpoints_for_our_url_are_named_with_what_to_do(
    staff_client, on_emulator, stripe_client
):
    first = endpoint(stripe_client)
    second = endpoint(stripe_client)
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=True,
               webhook_secret=second.secret)

    html = staff_client.post(RUN_URL, follow=True).content.decode()

    [webhook] = [row for row in panel_rows(html) if row[0] == "Webhook endpoint"]
    assert webhook[1] == "Warning"
    listed = ", ".join(e.id for e in sorted([first, second], key=lambda e: (e.created, e.id)))
    assert webhook[2] == (
        f"2 webhook endpoints send to {WEBHOOK_URL}: {listed}. Which one the stored signing "
        "secret fits cannot be told: Stripe does not show an endpoint's signing secret after "
        "it is created. Deliveries from the others are refused: keep one endpoint for this "
        "address (disable or delete the others in Stripe's dashboard).")
    assert second.secret not in html and first.secret not in html


def test_the_check_says_it_cannot_tell_which_endpoint_the_secret_fits():
    endpoints = [{"id": f"we_{n}", "url": WEBHOOK_URL, "status": "enabled",
                  "enabled_events": list(WEBHOOK_EVENTS)} for n in (1, 2)]

    result = _webhook_check(endpoints, WEBHOOK_URL)

    assert result.level == "warning"
    assert result.message.startswith(
        f"2 webhook endpoints send to {WEBHOOK_URL}: we_1, we_2. Which one the stored signing "
        "secret fits cannot be told: Stripe does not show an endpoint's signing secret after "
        "it is created.")


@pytest.mark.emulator_options(allow_remote_webhooks=True)
def test_signature_refusals_of_the_last_day_turn_a_good_webhook_line_into_a_warning(
    staff_client, on_emulator, stripe_client
):
    from django.utils import timezone

    from payments.services.refusals import record_refusal

    signing_secret = endpoint(stripe_client).secret
    store_keys(on_emulator.secret_key, on_emulator.publishable_key, enabled=True,
               webhook_secret=signing_secret)
    long_ago = timezone.now() - timezone.timedelta(days=2)
    record_refusal("No signature matches a configured webhook secret.", "203.0.113.5",
                   now=long_ago)
    before = panel_rows(staff_client.post(RUN_URL, follow=True).content.decode())
    assert ("Webhook endpoint", "OK") in [row[:2] for row in before]  # older ones don't count
    for _ in range(3):
        record_refusal("No signature matches a configured webhook secret.", "203.0.113.5")

    html = staff_client.post(RUN_URL, follow=True).content.decode()

    [webhook] = [row for row in panel_rows(html) if row[0] == "Webhook endpoint"]
    assert webhook[1] == "Warning"
    assert webhook[2] == (
        f"A webhook endpoint sends the subscription events to {WEBHOOK_URL}. But 3 deliveries "
        "in the last 24 hours had a signature that fits no stored secret: another endpoint may "
        "send to this address, or the secret was rolled in Stripe but not here (see Refused "
        "webhook deliveries).")
