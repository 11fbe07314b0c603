"""manage.py seed_demo: the demo's accounts, groups, APIs and Stripe setup, idempotently;
--tutorial leaves the Stripe part to the person following the Kuroco tutorial."""

from __future__ import annotations

import socket
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from kuroco_billing.rcms_api.models import Api, Endpoint
from members.models import Member, MemberGroup
from payments.models import WEBHOOK_EVENTS, StripeSettings

SITE = "http://127.0.0.1:8000"
WEBHOOK_URL = f"{SITE}/direct/stripe/webhook/"
SELF_SERVICE = {
    "stripe/cancel_at_period_end": "cancel_order", "stripe/resume": "resume",
    "stripe/portal": "portal", "stripe/plans": "plans", "stripe/change_plan": "change_plan",
    "stripe/subscription": "subscription", "stripe/invoices": "invoices",
}
LOOKUP_KEYS = ["kuroco_demo_basic", "kuroco_demo_premium"]


def seed(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def counts() -> dict[str, int]:
    return {
        "members": Member.objects.count(),
        "groups": MemberGroup.objects.count(),
        "apis": Api.objects.count(),
        "endpoints": Endpoint.objects.count(),
    }


def endpoint_map(api: Api) -> dict[str, str]:
    return {e.path: e.operation for e in api.endpoints.filter(enabled=True)}


@pytest.fixture
def no_stripe(settings):
    settings.STRIPE_API_BASE = ""
    settings.DEMO_SITE_URL = SITE


@pytest.fixture
def emulated_stripe(emulator, settings, monkeypatch):
    """The app pointed at the in-thread emulator, with its keys given to seed_demo."""
    settings.STRIPE_API_BASE = emulator.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.DEMO_SITE_URL = SITE
    monkeypatch.setenv("DEMO_STRIPE_SECRET_KEY", emulator.secret_key)
    monkeypatch.setenv("DEMO_STRIPE_PUBLISHABLE_KEY", emulator.publishable_key)
    return emulator


def webhook_endpoints(stripe_client) -> list[dict]:
    return [e for e in stripe_client.v1.webhook_endpoints.list(params={"limit": 100}).data
            if e.url == WEBHOOK_URL]


def endpoint_secret(emulator, endpoint_id: str) -> str:
    # Stripe never shows a secret again; the emulator's own record is the only witness.
    return emulator.emulator.store.private["endpoint_secrets"][endpoint_id]


@pytest.mark.django_db
def test_seed_creates_accounts_groups_and_both_apis(no_stripe):
    out, _ = seed()

    admin = Member.objects.get(email="admin@example.com")
    assert admin.is_staff and admin.is_superuser and admin.is_active
    assert admin.check_password("admin-pass-123")
    member = Member.objects.get(email="member@example.com")
    assert not member.is_staff and not member.is_superuser
    assert member.check_password("member-pass-123")
    assert set(MemberGroup.objects.values_list("name", flat=True)) == {
        "Basic members", "Premium members",
    }

    cookie_api, token_api = Api.objects.get(pk=1), Api.objects.get(pk=2)
    assert cookie_api.security == "cookie" and cookie_api.title == "Demo (cookie)"
    assert {"http://127.0.0.1:8000", "http://localhost:8000"} <= set(cookie_api.allowed_origins)
    assert endpoint_map(cookie_api) == {
        "login": "login_challenge", "logout": "logout", "profile": "profile",
        "stripe/checkout": "checkout", "stripe/cancel": "cancel_order", **SELF_SERVICE,
    }
    assert token_api.security == "dynamic_token"
    assert endpoint_map(token_api) == {**endpoint_map(cookie_api), "token": "token"}
    assert "Stripe: skipped" in out


@pytest.mark.django_db
def test_seed_twice_leaves_the_same_state(no_stripe):
    seed()
    first = counts()
    password_hash = Member.objects.get(email="admin@example.com").password
    out, _ = seed()
    assert counts() == first == {"members": 2, "groups": 2, "apis": 2, "endpoints": 25}
    # An unchanged password is not re-hashed.
    assert Member.objects.get(email="admin@example.com").password == password_hash
    assert "created" not in out


@pytest.mark.django_db
def test_seed_restores_the_demo_credentials(no_stripe):
    seed()
    admin = Member.objects.get(email="admin@example.com")
    admin.set_password("changed-elsewhere-1")
    admin.is_staff = False
    admin.save()
    seed()
    admin.refresh_from_db()
    assert admin.check_password("admin-pass-123") and admin.is_staff


@pytest.mark.django_db
def test_seed_uses_the_configured_credentials(no_stripe, settings):
    settings.DEMO_ADMIN_EMAIL = "Boss@Example.org"
    settings.DEMO_ADMIN_PASSWORD = "boss-pass-456"
    settings.DEMO_MEMBER_EMAIL = "someone@example.org"
    settings.DEMO_MEMBER_PASSWORD = "someone-pass-789"
    seed()
    assert Member.objects.get(email="boss@example.org").check_password("boss-pass-456")
    assert Member.objects.get(email="someone@example.org").check_password("someone-pass-789")
    assert not Member.objects.filter(email="admin@example.com").exists()


@pytest.mark.django_db
def test_fixed_api_ids_do_not_block_new_apis(no_stripe):
    # On PostgreSQL, explicit ids leave the sequence at 1 unless it is reset.
    seed()
    assert Api.objects.create(title="Added later").pk == 3


@pytest.mark.django_db
def test_seed_with_the_emulator_sets_up_stripe_once(emulated_stripe, stripe_client):
    seed()
    first_secret = StripeSettings.load().webhook_secret
    first_endpoints = webhook_endpoints(stripe_client)
    out, _ = seed()

    prices = stripe_client.v1.prices.list(params={"lookup_keys": LOOKUP_KEYS}).data
    assert sorted(p.lookup_key for p in prices) == LOOKUP_KEYS
    assert all(p.type == "recurring" and p.recurring.interval == "month" for p in prices)
    by_key = {p.lookup_key: p.id for p in prices}

    endpoints = webhook_endpoints(stripe_client)
    assert [e.id for e in endpoints] == [e.id for e in first_endpoints]
    assert len(endpoints) == 1
    assert sorted(endpoints[0].enabled_events) == sorted(WEBHOOK_EVENTS)

    config = StripeSettings.load()
    assert config.enabled
    assert config.secret_key == emulated_stripe.secret_key
    assert config.publishable_key == emulated_stripe.publishable_key
    assert config.webhook_secret.startswith("whsec_")
    assert config.webhook_secret == first_secret
    assert config.webhook_secret == endpoint_secret(emulated_stripe, endpoints[0].id)

    groups = dict(MemberGroup.objects.values_list("name", "stripe_price_id"))
    assert groups == {
        "Basic members": by_key["kuroco_demo_basic"],
        "Premium members": by_key["kuroco_demo_premium"],
    }
    for api_id in (1, 2):
        parameters = Endpoint.objects.get(api_id=api_id, path="stripe/checkout").parameters
        assert parameters["products_list"] == [by_key["kuroco_demo_basic"]]
        assert parameters["return_url"] == f"{SITE}/demo/?checkout=success"
        assert parameters["return_err_url"] == f"{SITE}/demo/?checkout=cancel"
        for path in ("stripe/plans", "stripe/change_plan"):
            assert Endpoint.objects.get(api_id=api_id, path=path).parameters == {
                "products_list": [by_key["kuroco_demo_basic"], by_key["kuroco_demo_premium"]]}
        assert Endpoint.objects.get(api_id=api_id, path="stripe/portal").parameters == {
            "return_url": f"{SITE}/demo/"}
        assert Endpoint.objects.get(api_id=api_id, path="stripe/cancel_at_period_end"
                                    ).parameters == {"at_period_end": True}
    basic = MemberGroup.objects.get(name="Basic members")
    assert (basic.price_product_name, basic.price_unit_amount, basic.price_interval) == (
        "Basic", 1000, "month")
    [portal] = stripe_client.v1.billing_portal.configurations.list(
        params={"is_default": True}).data
    assert portal.features.subscription_update.enabled
    assert "created" not in out
    # The webhook secret is stored, never printed.
    assert config.webhook_secret not in out


@pytest.mark.django_db
def test_seed_replaces_an_endpoint_whose_secret_was_lost(emulated_stripe, stripe_client):
    seed()
    [old] = webhook_endpoints(stripe_client)
    config = StripeSettings.load()
    config.webhook_secret = ""
    config.save()

    out, _ = seed()

    [new] = webhook_endpoints(stripe_client)
    assert new.id != old.id
    assert f"{old.id}: deleted" in out
    assert StripeSettings.load().webhook_secret == endpoint_secret(emulated_stripe, new.id)


@pytest.mark.django_db
def test_seed_without_a_reachable_emulator_warns_and_seeds_the_rest(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port}"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    _, err = seed()

    assert "WARNING: Stripe part skipped" in err
    assert "could not be reached" in err
    assert counts() == {"members": 2, "groups": 2, "apis": 2, "endpoints": 25}
    assert not StripeSettings.load().enabled
    assert not MemberGroup.objects.exclude(stripe_price_id=None).exists()


# --- seed_demo --tutorial (make tutorial) ---------------------------------------------

@pytest.mark.django_db
def test_tutorial_seeds_accounts_and_apis_and_leaves_stripe_to_the_person(
        emulated_stripe, stripe_client):
    out, err = seed("--tutorial")

    assert Member.objects.get(email="admin@example.com").is_superuser
    assert Member.objects.get(email="member@example.com").check_password("member-pass-123")
    assert endpoint_map(Api.objects.get(pk=1)) == {
        "login": "login_challenge", "logout": "logout", "profile": "profile",
        "stripe/checkout": "checkout", "stripe/cancel": "cancel_order", **SELF_SERVICE,
    }
    assert "token" in endpoint_map(Api.objects.get(pk=2))
    # The groups wait for the price the person creates in the dashboard.
    assert not MemberGroup.objects.exclude(stripe_price_id=None).exists()
    for api_id in (1, 2):
        parameters = Endpoint.objects.get(api_id=api_id, path="stripe/checkout").parameters
        assert "products_list" not in parameters
        assert parameters["return_url"] == f"{SITE}/demo/?checkout=success"
    config = StripeSettings.load()
    assert not config.enabled
    assert not (config.secret_key or config.publishable_key or config.webhook_secret)
    # Nothing reached the emulator, although STRIPE_API_BASE points at it.
    assert stripe_client.v1.prices.list().data == []
    assert stripe_client.v1.products.list().data == []
    assert stripe_client.v1.webhook_endpoints.list().data == []
    assert "Following the Kuroco tutorial" in out
    assert "price_" not in out and err == ""


@pytest.mark.django_db
def test_tutorial_rerun_keeps_what_the_person_set_up(no_stripe):
    seed("--tutorial")
    group = MemberGroup.objects.get(name="Basic members")
    group.stripe_price_id = "price_fromTheDashboard1"
    group.save()
    checkout = Endpoint.objects.get(api_id=1, path="stripe/checkout")
    checkout.parameters = {**checkout.parameters, "products_list": ["price_fromTheDashboard1"],
                           "return_url": "https://shop.example/thanks"}
    checkout.save()

    out, _ = seed("--tutorial")

    assert "created" not in out
    group.refresh_from_db()
    checkout.refresh_from_db()
    assert group.stripe_price_id == "price_fromTheDashboard1"
    assert checkout.parameters["products_list"] == ["price_fromTheDashboard1"]
    assert checkout.parameters["return_url"] == "https://shop.example/thanks"
    assert checkout.parameters["return_err_url"] == f"{SITE}/demo/?checkout=cancel"


def test_tutorial_and_stripe_flags_exclude_each_other(no_stripe):
    with pytest.raises(CommandError):
        seed("--tutorial", "--stripe")
