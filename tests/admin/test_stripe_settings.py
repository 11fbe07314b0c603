"""External system integration → Stripe: the singleton settings screen."""

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection

from payments.models import StripeSettings

LIST_URL = "/admin/payments/stripesettings/"
FORM_URL = "/admin/payments/stripesettings/1/change/"

PUBLISHABLE = "pk_test_51Publishable0000"
SECRET = "sk_test_51SuperSecretValue9876"
WEBHOOK_SECRET = "whsec_VerySecretSigning5432"
PREVIOUS_SECRET = "whsec_OldSigningSecret1111"
PK_PREFIX = "A publishable key starts with pk_test_ or pk_live_."


def form_data(**overrides):
    data = {
        "enabled": "",
        "publishable_key": "",
        "secret_key": "",
        "webhook_secret": "",
        "previous_webhook_secret": "",
        "previous_webhook_secret_expires_at_0": "",
        "previous_webhook_secret_expires_at_1": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not False}


@pytest.fixture
def stored(db):
    """Keys stored, integration off (so saving does not talk to Stripe)."""
    obj = StripeSettings.load()
    obj.publishable_key = PUBLISHABLE
    obj.secret_key = SECRET
    obj.webhook_secret = WEBHOOK_SECRET
    obj.save()
    return obj


def errors_of(response) -> dict:
    return response.context["adminform"].form.errors


def test_list_opens_straight_on_the_form(staff_client, db):
    StripeSettings.objects.all().delete()

    response = staff_client.get(LIST_URL)

    assert response.status_code == 302
    assert response["Location"] == FORM_URL
    page = staff_client.get(FORM_URL)
    assert page.status_code == 200
    assert StripeSettings.objects.filter(pk=1).exists()


def test_no_add_and_no_delete(staff_client, db):
    html = staff_client.get(FORM_URL).content.decode()

    assert staff_client.get("/admin/payments/stripesettings/add/").status_code == 403
    assert staff_client.get("/admin/payments/stripesettings/1/delete/").status_code == 403
    assert "deletelink" not in html
    assert "_addanother" not in html


def test_form_shows_fields_mode_webhook_url_and_events(staff_client, stored):
    response = staff_client.get(FORM_URL)

    html = response.content.decode()
    assert 'name="enabled"' in html
    assert 'class="fieldset-heading">Status</h2>' in html
    assert '<label class="vCheckboxLabel" for="id_enabled">Enabled</label>' in html
    for name in ("publishable_key", "secret_key", "webhook_secret",
                 "previous_webhook_secret", "previous_webhook_secret_expires_at_0"):
        assert f'name="{name}"' in html
    assert '<strong id="stripe-mode">TEST</strong>' in html
    assert "http://testserver/direct/stripe/webhook/" in html
    for event in ("customer.subscription.created", "customer.subscription.updated",
                  "customer.subscription.deleted"):
        assert f"<code>{event}</code>" in html


def test_live_keys_show_live_mode(staff_client, db):
    obj = StripeSettings.load()
    obj.publishable_key = "pk_live_abc"
    obj.save()

    html = staff_client.get(FORM_URL).content.decode()

    assert '<strong id="stripe-mode">LIVE</strong>' in html


def test_secrets_never_appear_in_the_page(staff_client, stored):
    obj = StripeSettings.load()
    obj.previous_webhook_secret = PREVIOUS_SECRET
    obj.save()

    html = staff_client.get(FORM_URL).content.decode()

    assert SECRET not in html
    assert WEBHOOK_SECRET not in html
    assert PREVIOUS_SECRET not in html
    assert PUBLISHABLE in html  # not a secret: shown for checking
    assert f"Set (…{SECRET[-4:]})" in html
    assert 'type="password" name="secret_key"' in html


@pytest.mark.parametrize("pasted", [SECRET, "rk_live_RestrictedPasted77", WEBHOOK_SECRET])
def test_secret_pasted_as_publishable_key_is_refused_and_not_shown(staff_client, db, pasted):
    response = staff_client.post(FORM_URL, form_data(publishable_key=pasted))

    html = response.content.decode()
    assert response.status_code == 200
    assert "This is a secret, not a publishable key" in html
    assert pasted not in html
    assert StripeSettings.load().publishable_key == ""


def test_malformed_publishable_key_is_not_rendered_back(staff_client, db):
    response = staff_client.post(FORM_URL, form_data(publishable_key="pk_oops_Value123"))

    assert PK_PREFIX in response.content.decode()
    assert "pk_oops_Value123" not in response.content.decode()


def test_secret_shows_not_set_when_empty(staff_client, db):
    html = staff_client.get(FORM_URL).content.decode()

    assert "Not set." in html


def test_failed_post_does_not_echo_the_submitted_secrets(staff_client, db):
    new_secret = "sk_live_TypedButRefused4242"
    new_webhook = "whsec_TypedButRefused4242"

    response = staff_client.post(FORM_URL, form_data(
        publishable_key="pk_test_abc", secret_key=new_secret, webhook_secret=new_webhook,
    ))

    html = response.content.decode()
    assert response.status_code == 200
    assert "same mode" in html
    assert new_secret not in html
    assert new_webhook not in html


def test_empty_secret_fields_keep_the_stored_values(staff_client, stored):
    response = staff_client.post(FORM_URL, form_data(publishable_key="pk_test_Other1"))

    assert response.status_code == 302
    obj = StripeSettings.load()
    assert obj.publishable_key == "pk_test_Other1"
    assert obj.secret_key == SECRET
    assert obj.webhook_secret == WEBHOOK_SECRET


def test_new_secret_replaces_and_clear_removes(staff_client, stored):
    response = staff_client.post(FORM_URL, form_data(
        publishable_key=PUBLISHABLE, secret_key="sk_test_Replaced1",
        clear_webhook_secret="on",
    ))

    assert response.status_code == 302
    obj = StripeSettings.load()
    assert obj.secret_key == "sk_test_Replaced1"
    assert obj.webhook_secret == ""


def test_new_value_and_clear_together_are_refused(staff_client, stored):
    response = staff_client.post(FORM_URL, form_data(
        publishable_key=PUBLISHABLE, secret_key="sk_test_Replaced1", clear_secret_key="on",
    ))

    assert response.status_code == 200
    assert errors_of(response)["clear_secret_key"] == [
        "Either enter a new value or clear it, not both."
    ]


def test_secrets_are_encrypted_in_the_database(staff_client, db):
    staff_client.post(FORM_URL, form_data(
        publishable_key=PUBLISHABLE, secret_key=SECRET, webhook_secret=WEBHOOK_SECRET,
    ))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_key, webhook_secret FROM payments_stripesettings WHERE id = 1"
        )
        raw_secret, raw_webhook = cursor.fetchone()
    assert raw_secret and raw_webhook
    assert SECRET not in raw_secret and "sk_test" not in raw_secret
    assert WEBHOOK_SECRET not in raw_webhook and "whsec_" not in raw_webhook
    assert StripeSettings.load().secret_key == SECRET


def test_history_names_fields_but_holds_no_secret(staff_client, stored):
    staff_client.post(FORM_URL, form_data(
        publishable_key=PUBLISHABLE, secret_key="sk_test_Replaced1",
    ))

    entry = LogEntry.objects.get(object_id="1")
    assert "secret_key" in entry.change_message or "Secret key" in entry.get_change_message()
    assert "sk_test_Replaced1" not in entry.change_message
    history = staff_client.get("/admin/payments/stripesettings/1/history/").content.decode()
    assert "Secret key" in history
    assert "sk_test_Replaced1" not in history


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("publishable_key", "sk_test_wrongplace", "This is a secret, not a publishable key"),
        ("publishable_key", "pk_demo_123", PK_PREFIX),
        ("secret_key", "pk_test_123", "A secret key starts with sk_test_ or sk_live_"),
        ("secret_key", "sk_prod_123", "A secret key starts with sk_test_ or sk_live_"),
        ("webhook_secret", "wh_123", "A webhook signing secret starts with whsec_."),
        ("previous_webhook_secret", "secret", "A webhook signing secret starts with whsec_."),
    ],
)
def test_wrong_prefixes_are_refused(staff_client, db, field, value, message):
    response = staff_client.post(FORM_URL, form_data(**{field: value}))

    assert response.status_code == 200
    assert message in errors_of(response)[field][0]
    assert message.split(" (")[0] in response.content.decode()


@pytest.mark.parametrize("secret", ["sk_live_abc", "rk_live_abc"])
def test_test_and_live_keys_together_are_refused(staff_client, db, secret):
    response = staff_client.post(FORM_URL, form_data(publishable_key="pk_test_abc",
                                                     secret_key=secret))

    assert response.status_code == 200
    assert errors_of(response)["secret_key"] == [
        "The publishable key is a test key but the secret key is a live key: use keys "
        "of the same mode (test or live)."
    ]


def test_mode_mismatch_against_the_stored_secret_is_refused(staff_client, stored):
    response = staff_client.post(FORM_URL, form_data(publishable_key="pk_live_abc"))

    assert response.status_code == 200
    assert "use keys of the same mode" in errors_of(response)["publishable_key"][0]


def test_restricted_key_is_accepted(staff_client, db):
    response = staff_client.post(FORM_URL, form_data(publishable_key="pk_test_abc",
                                                     secret_key="rk_test_abc"))

    assert response.status_code == 302
    assert StripeSettings.load().secret_key == "rk_test_abc"


def test_enabling_without_values_is_refused(staff_client, db):
    response = staff_client.post(FORM_URL, form_data(enabled="on"))

    assert response.status_code == 200
    errors = errors_of(response)
    assert errors["publishable_key"] == [
        "Publishable key is required to enable the Stripe integration."
    ]
    assert errors["secret_key"] == ["Secret key is required to enable the Stripe integration."]
    assert errors["webhook_secret"] == [
        "Webhook signing secret is required to enable the Stripe integration."
    ]
    assert not StripeSettings.load().enabled


def test_enabling_after_clearing_a_stored_secret_is_refused(staff_client, stored):
    response = staff_client.post(FORM_URL, form_data(
        enabled="on", publishable_key=PUBLISHABLE, clear_webhook_secret="on",
    ))

    assert response.status_code == 200
    assert "webhook_secret" in errors_of(response)


def test_previous_secret_needs_an_expiry(staff_client, stored):
    response = staff_client.post(FORM_URL, form_data(
        publishable_key=PUBLISHABLE, previous_webhook_secret=PREVIOUS_SECRET,
    ))

    assert response.status_code == 200
    assert errors_of(response)["previous_webhook_secret_expires_at"] == [
        "Give the date and time until which the previous secret stays valid."
    ]
    assert PREVIOUS_SECRET not in response.content.decode()


def test_previous_secret_with_expiry_is_stored(staff_client, stored):
    response = staff_client.post(FORM_URL, form_data(
        publishable_key=PUBLISHABLE, previous_webhook_secret=PREVIOUS_SECRET,
        previous_webhook_secret_expires_at_0="2099-01-01",
        previous_webhook_secret_expires_at_1="12:00:00",
    ))

    assert response.status_code == 302
    obj = StripeSettings.load()
    assert obj.previous_webhook_secret == PREVIOUS_SECRET
    assert obj.webhook_secrets() == [WEBHOOK_SECRET, PREVIOUS_SECRET]


def test_saving_stays_on_the_form(staff_client, stored):
    response = staff_client.post(FORM_URL, form_data(publishable_key=PUBLISHABLE))

    assert response.status_code == 302
    assert response["Location"] == FORM_URL


# --- Staff who may only view --------------------------------------------------------

VIEWER_EMAIL = "viewer@example.com"
VIEWER_PASSWORD = "viewer-pass-123"


@pytest.fixture
def viewer_client(client, db):
    """Staff with only "Can view Stripe" (and the webhook log), signed in through the form."""
    from django.contrib.auth.models import Permission

    from members.models import Member

    viewer = Member.objects.create_user(VIEWER_EMAIL, VIEWER_PASSWORD, name="Viewer",
                                        is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(
        content_type__app_label="payments",
        codename__in=["view_stripesettings", "view_webhookevent"]))
    response = client.post("/admin/login/?next=/admin/",
                           {"username": VIEWER_EMAIL, "password": VIEWER_PASSWORD})
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def rolled(stored):
    from datetime import timedelta

    from django.utils import timezone

    stored.previous_webhook_secret = PREVIOUS_SECRET
    stored.previous_webhook_secret_expires_at = timezone.now() + timedelta(hours=1)
    stored.save()
    return stored


def test_view_only_staff_see_set_and_the_last_four_only(viewer_client, rolled):
    response = viewer_client.get(FORM_URL)

    assert response.status_code == 200
    page = response.content.decode()
    for secret in (SECRET, WEBHOOK_SECRET, PREVIOUS_SECRET):
        assert secret not in page
        assert secret[:-4] not in page
        assert f"Set (…{secret[-4:]})" in page
    assert PUBLISHABLE in page  # public by design
    assert 'name="_save"' not in page  # nothing to save
    assert 'name="secret_key"' not in page


def test_view_only_staff_see_not_set_for_missing_secrets(viewer_client, db):
    page = viewer_client.get(FORM_URL).content.decode()
    assert page.count("Not set") >= 3


def test_view_only_staff_cannot_change_anything(viewer_client, rolled):
    response = viewer_client.post(FORM_URL, form_data(secret_key="sk_test_Stolen1",
                                                      enabled="on"))
    assert response.status_code == 403
    assert StripeSettings.load().secret_key == SECRET


def test_view_only_staff_history_holds_no_secret(viewer_client, staff_client_other, rolled):
    staff_client_other.post(FORM_URL, form_data(
        publishable_key=PUBLISHABLE, secret_key="sk_test_Replaced1",
        previous_webhook_secret_expires_at_0="2099-01-01",
        previous_webhook_secret_expires_at_1="00:00:00"))
    assert LogEntry.objects.count() == 1

    history = viewer_client.get("/admin/payments/stripesettings/1/history/")

    assert history.status_code == 200
    page = history.content.decode()
    assert "Secret key" in page
    for secret in ("sk_test_Replaced1", WEBHOOK_SECRET, PREVIOUS_SECRET):
        assert secret not in page


@pytest.fixture
def staff_client_other(admin_user):
    """A second browser: the superuser, while the viewer's session stays open."""
    from django.test import Client

    from tests.fixtures.accounts import ADMIN_PASSWORD

    other = Client()
    assert other.post("/admin/login/?next=/admin/", {
        "username": admin_user.email, "password": ADMIN_PASSWORD}).status_code == 302
    return other


def test_every_admin_page_the_viewer_can_open_is_masked(viewer_client, rolled):
    pages = ["/admin/", "/admin/payments/", FORM_URL, "/admin/payments/stripesettings/1/history/",
             "/admin/payments/webhookevent/"]
    for url in pages:
        response = viewer_client.get(url, follow=True)
        assert response.status_code == 200, url
        for secret in (SECRET, WEBHOOK_SECRET, PREVIOUS_SECRET):
            assert secret not in response.content.decode(), url
