"""Error reports never show a secret, with DEBUG on: Django's debug page and the log.

Each function that holds a secret is made to fail deep inside (a library it calls
raises), and the report Django would render for it (``ExceptionReporter``, the
technical 500 page) is searched for the secret, as is the log line. Each test also
checks the failing function's frame is in the report, so it proves something.
"""

from __future__ import annotations

import logging
import sys
import time

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from tests.fixtures.accounts import (
    ADMIN_PASSWORD,
    MEMBER_PASSWORD,
    TOKEN_ENDPOINTS,
    api_login,
    endpoint_url,
    issue_tokens,
    make_api,
    post_json,
)

pytestmark = pytest.mark.django_db

SECRET_KEY = "sk_test_ReportSecret4242"
WEBHOOK_SECRET = "whsec_ReportSigning4242"
PREVIOUS_SECRET = "whsec_ReportPrevious4242"
FERNET_KEY = "uKX7S8W3uOcdSt6f5Tq1wXw0p3WJ2zFp0nN9f2m1Ykk="  # tests/settings.py's
KNOWN_TOKEN = "tok_ReportKnownTokenValue4242"


@pytest.fixture(autouse=True)
def debug_on(settings):
    settings.DEBUG = True


def report_of(exc_info, caplog, request=None) -> str:
    """The debug page and the text report for ``exc_info``, plus the log of it."""
    request = request or RequestFactory().get("/somewhere/")
    reporter = ExceptionReporter(request, *exc_info)
    logging.getLogger("django.request").error("Internal Server Error", exc_info=exc_info)
    return reporter.get_traceback_html() + reporter.get_traceback_text() + caplog.text


def failure_of(call):
    try:
        call()
    except Exception:
        return sys.exc_info()
    pytest.fail("the call was expected to fail")


def assert_clean(report: str, frame: str, *secrets: str) -> None:
    assert frame in report  # the function's own frame is in the report
    for secret in secrets:
        assert secret not in report


# --- Functions, failing deep inside ----------------------------------------------------

def test_signature_verification(caplog):
    from payments.services import signatures

    header = f"t={int(time.time())},v1={'a' * 64}"
    # A body that is not bytes: hashing fails inside compute_signature.
    exc_info = failure_of(lambda: signatures.verify(None, header, [WEBHOOK_SECRET]))
    assert_clean(report_of(exc_info, caplog), "compute_signature", WEBHOOK_SECRET)


def test_webhook_secrets_of_the_settings(caplog):
    from django.utils import timezone

    from payments.models import StripeSettings

    config = StripeSettings(webhook_secret=WEBHOOK_SECRET, previous_webhook_secret=PREVIOUS_SECRET,
                            previous_webhook_secret_expires_at=timezone.now())
    exc_info = failure_of(lambda: config.webhook_secrets(now="not a time"))
    assert_clean(report_of(exc_info, caplog), "webhook_secrets", WEBHOOK_SECRET, PREVIOUS_SECRET)


@pytest.mark.parametrize("where", ["crypto.encrypt", "EncryptedTextField.get_prep_value"])
def test_encryption(caplog, settings, where):
    from payments import crypto
    from payments.fields import EncryptedTextField

    # The second key is malformed: building the Fernet keys fails.
    settings.FIELD_ENCRYPTION_KEYS = [FERNET_KEY, "not-a-fernet-key"]
    call = {"crypto.encrypt": lambda: crypto.encrypt(SECRET_KEY),
            "EncryptedTextField.get_prep_value":
                lambda: EncryptedTextField().get_prep_value(SECRET_KEY)}[where]
    exc_info = failure_of(call)
    assert_clean(report_of(exc_info, caplog), "_fernet_for", SECRET_KEY, FERNET_KEY)


def test_gateway_client_construction(caplog, monkeypatch):
    import stripe

    from payments import gateway
    from payments.models import StripeSettings

    def refuses(api_key, **options):
        raise RuntimeError("the SDK failed while holding the key")

    monkeypatch.setattr(stripe, "StripeClient", refuses)
    config = StripeSettings(enabled=True, secret_key=SECRET_KEY)
    exc_info = failure_of(lambda: gateway.client(config))
    assert_clean(report_of(exc_info, caplog), "refuses", SECRET_KEY)


def test_token_creation(caplog, monkeypatch, member):
    from kuroco_billing.rcms_api import tokens

    monkeypatch.setattr(tokens.secrets, "token_urlsafe", lambda n: KNOWN_TOKEN)
    # No API: the row cannot be stored (NOT NULL), after the value was made.
    exc_info = failure_of(lambda: tokens.issue(None, member, "access", 60))
    assert_clean(report_of(exc_info, caplog), "issue", KNOWN_TOKEN)


def test_token_verification(caplog):
    from kuroco_billing.rcms_api import tokens

    exc_info = failure_of(lambda: tokens.find_usable(object(), KNOWN_TOKEN, "access"))
    assert_clean(report_of(exc_info, caplog), "find_usable", KNOWN_TOKEN)


def test_settings_form(caplog):
    from payments.forms import StripeSettingsForm

    class Unreadable:
        def __getattr__(self, name):
            raise RuntimeError("the stored values cannot be read")

    form = StripeSettingsForm(data={"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET,
                                    "publishable_key": "pk_test_x"})
    form.instance = Unreadable()  # fails while holding the typed secrets
    exc_info = failure_of(form.is_valid)
    assert_clean(report_of(exc_info, caplog), "_resolve_secrets", SECRET_KEY, WEBHOOK_SECRET)


def test_creating_a_member_with_a_password(caplog, monkeypatch):
    from members.models import Member

    def broken(self, password, salt):
        raise RuntimeError("the hasher broke")

    monkeypatch.setattr("django.contrib.auth.hashers.MD5PasswordHasher.encode", broken)
    exc_info = failure_of(lambda: Member.objects.create_user("new@example.com", MEMBER_PASSWORD))
    assert_clean(report_of(exc_info, caplog), "_create", MEMBER_PASSWORD)


# --- Whole requests: the API logs a failure with its traceback ---------------------------

@pytest.fixture
def token_api(db):
    return make_api("dynamic_token", TOKEN_ENDPOINTS, title="Report API")


def logged_failure(caplog):
    records = [r for r in caplog.records if r.exc_info and r.levelname == "ERROR"]
    assert records, "the failure was not logged"
    return records[-1].exc_info


def test_sign_in_failing_inside_the_password_check(client, caplog, monkeypatch, member,
                                                   token_api):
    def broken(*args, **kwargs):
        raise RuntimeError("the password backend broke")

    monkeypatch.setattr("django.contrib.auth.backends.ModelBackend.authenticate", broken)
    response = post_json(client, endpoint_url(token_api, "login_challenge"),
                         {"email": member.email, "password": MEMBER_PASSWORD})
    assert response.status_code == 500
    report = report_of(logged_failure(caplog), caplog)
    assert_clean(report, "sign_in", MEMBER_PASSWORD)


@pytest.mark.parametrize("kind", ["grant_token", "refresh_token"])
def test_token_exchange_failing_inside(client, caplog, monkeypatch, member, token_api, kind):
    from kuroco_billing.rcms_api import tokens

    if kind == "grant_token":
        secret = api_login(client, token_api, member.email, MEMBER_PASSWORD)["grant_token"]
    else:
        secret = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)[
            "refresh_token"]["value"]

    def broken(n):
        raise RuntimeError("no randomness left")

    monkeypatch.setattr(tokens.secrets, "token_urlsafe", broken)
    response = post_json(client, endpoint_url(token_api, "token"), {kind: secret})
    assert response.status_code == 500
    report = report_of(logged_failure(caplog), caplog)
    assert_clean(report, "issue_pair", secret)


# --- Whole requests: Django's technical 500 page (a non-API URL) ---------------------------

def test_admin_saving_stripe_keys_when_encryption_fails(client, admin_user, caplog,
                                                        monkeypatch):
    from cryptography.fernet import MultiFernet

    assert client.post("/admin/login/", {"username": admin_user.email,
                                         "password": ADMIN_PASSWORD}).status_code == 302
    client.raise_request_exception = False

    def broken(self, data):
        raise RuntimeError("the cipher broke")

    monkeypatch.setattr(MultiFernet, "encrypt", broken)
    response = client.post("/admin/payments/stripesettings/1/change/", {
        "publishable_key": "pk_test_Report", "secret_key": SECRET_KEY,
        "webhook_secret": WEBHOOK_SECRET, "previous_webhook_secret": "",
    })

    assert response.status_code == 500
    page = response.content.decode()
    assert "Traceback" in page and "get_prep_value" in page  # Django's debug page
    for secret in (SECRET_KEY, WEBHOOK_SECRET, FERNET_KEY, ADMIN_PASSWORD):
        assert secret not in page
        assert secret not in caplog.text


def test_without_the_project_filter_that_page_would_leak(client, admin_user, monkeypatch,
                                                         settings, request):
    """The control: Django's own filter stands down with DEBUG on."""
    from cryptography.fernet import MultiFernet
    from django.views.debug import get_default_exception_reporter_filter

    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    get_default_exception_reporter_filter.cache_clear()  # read once per process
    request.addfinalizer(get_default_exception_reporter_filter.cache_clear)
    client.force_login(admin_user)
    client.raise_request_exception = False
    monkeypatch.setattr(MultiFernet, "encrypt", lambda self, data: 1 / 0)
    response = client.post("/admin/payments/stripesettings/1/change/", {
        "publishable_key": "pk_test_Report", "secret_key": SECRET_KEY, "webhook_secret": "",
        "previous_webhook_secret": ""})
    assert response.status_code == 500
    assert SECRET_KEY in response.content.decode()


def test_admin_sign_in_failing_inside_the_password_check(client, admin_user, caplog,
                                                         monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the password backend broke")

    monkeypatch.setattr("django.contrib.auth.backends.ModelBackend.authenticate", broken)
    client.raise_request_exception = False
    response = client.post("/admin/login/", {"username": admin_user.email,
                                             "password": ADMIN_PASSWORD})
    assert response.status_code == 500
    page = response.content.decode()
    assert "Traceback" in page
    assert ADMIN_PASSWORD not in page
    assert ADMIN_PASSWORD not in caplog.text


# --- Every function that holds a secret is marked ------------------------------------------

MARKED = [
    "payments.services.signatures:compute_signature",
    "payments.services.signatures:verify",
    "payments.crypto:configured_keys",
    "payments.crypto:fernet",
    "payments.crypto:encrypt",
    "payments.crypto:decrypt",
    "payments.crypto:rotate",
    "payments.crypto:_with_keys",
    "payments.crypto:_development_key",
    "payments.fields:EncryptedTextField.from_db_value",
    "payments.fields:EncryptedTextField.get_prep_value",
    "payments.models:StripeSettings.save",
    "payments.models:StripeSettings.webhook_secrets",
    "payments.gateway:client",
    "payments.gateway:_call",
    "payments.gateway:create_webhook_endpoint",
    "payments.forms:secret_status",
    "payments.forms:StripeSettingsForm.__init__",
    "payments.forms:StripeSettingsForm.clean",
    "payments.forms:StripeSettingsForm.clean_secret_key",
    "payments.forms:StripeSettingsForm._resolve_secrets",
    "kuroco_billing.rcms_api.tokens:issue",
    "kuroco_billing.rcms_api.tokens:issue_pair",
    "kuroco_billing.rcms_api.tokens:find_usable",
    "kuroco_billing.rcms_api.models:hash_token",
    "kuroco_billing.rcms_api.dispatch:_answer",
    "kuroco_billing.logging:redact",
    "members.services:sign_in",
    "members.services:issue_grant",
    "members.services:exchange_grant",
    "members.services:rotate_refresh",
    "members.services:member_for_access_token",
    "members.operations:login_challenge",
    "members.operations:token",
    "members.models:MemberManager._create",
    "members.models:MemberManager.create_user",
]


@pytest.mark.parametrize("name", MARKED)
def test_function_is_marked_sensitive(name):
    import importlib

    module, _, path = name.partition(":")
    target = importlib.import_module(module)
    for part in path.split("."):
        target = getattr(target, part)
    assert target.__code__.co_name == "sensitive_variables_wrapper", name


REDIS_PASSWORD = "s3cretRedisReport4242"


def test_a_password_inside_a_cache_url_is_hidden(client, caplog, settings):
    """RATE_LIMIT_CACHE_URL=redis://:pw@host/0 (docs/performance.md) lands in CACHES'
    LOCATION, a name no credential rule matches; anyone can show the page with a Host
    the site does not serve."""
    settings.CACHES = {**settings.CACHES, "ratelimit": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0"}}
    try:
        raise RuntimeError("deep inside")
    except RuntimeError:
        report = report_of(sys.exc_info(), caplog)
    page = client.get("/demo/", HTTP_HOST="attacker.example")

    assert "deep inside" in report and "redis.internal:6379" in report  # it is there
    assert REDIS_PASSWORD not in report
    assert page.status_code == 400
    assert REDIS_PASSWORD not in page.content.decode()


@pytest.mark.parametrize("password", ["pa/ss4242", "p@ss4242", "pl@in/and:odd4242"])
def test_a_url_password_with_a_slash_or_an_at_sign_is_hidden_whole(password):
    from kuroco_billing.debug import AlwaysSafeExceptionReporterFilter

    cleansed = AlwaysSafeExceptionReporterFilter().cleanse_setting(
        "CACHES", {"default": {"LOCATION": f"redis://user:{password}@cache.internal:6379/0"}})

    location = cleansed["default"]["LOCATION"]
    assert location.startswith("redis://user:") and location.endswith("@cache.internal:6379/0")
    assert "4242" not in location
