"""Secrets never leak: the whole flow, then a search of everything anyone could see.

An administrator signs in, configures Stripe and a group in the admin, and adds a
member with a password; the member signs in on a cookie API and a dynamic-token API,
gets and refreshes tokens, checks out, pays, is updated by the webhook, reads their
profile and cancels; the administrator then opens every screen that shows Stripe data.
Every API answer (body and headers), every admin page and every log record (all
loggers at DEBUG, plus what the console handler wrote) is searched for the Stripe secret
key, the webhook secret, every grant/access/refresh token and both passwords.

Only two answers may hold tokens: the token endpoint's own answers, and the grant
token in a sign-in answer. Everything else must be clean.
"""

from __future__ import annotations

import json
import logging

import pytest
import requests

from kuroco_billing.rcms_api.models import Api, Endpoint
from members.models import Member, MemberGroup
from payments.models import WEBHOOK_EVENTS, StripeSettings, WebhookEvent
from tests.fixtures.accounts import ADMIN_PASSWORD
from tests.fixtures.billing import create_recurring_price, pay, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MEMBER_EMAIL = "leak-check@example.com"
MEMBER_PASSWORD = "Leak-Check-Pass-7781"
STRIPE_SCREEN = "/admin/payments/stripesettings/1/change/"


class Recorder:
    """Every HTTP answer seen, as text, with whether it may legitimately hold tokens."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []  # (label, text)
        self.token_answers: list[tuple[str, str]] = []

    def record(self, label: str, status: int, headers, body: str, *, may_hold_tokens=False):
        text = f"{status}\n" + "\n".join(f"{k}: {v}" for k, v in headers.items()) + "\n" + body
        (self.token_answers if may_hold_tokens else self.answers).append((label, text))

    def requests_answer(self, label: str, response: requests.Response, **kw) -> requests.Response:
        self.record(label, response.status_code, response.headers, response.text, **kw)
        return response

    def django_answer(self, label: str, response, **kw):
        body = b"".join(response.streaming_content) if response.streaming else response.content
        self.record(label, response.status_code, dict(response.items()),
                    body.decode(errors="replace"), **kw)
        return response


def all_loggers_at_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


def log_text(caplog, captured: str) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in caplog.records
             # The emulator is Stripe's side of the wire, not this app.
             if not record.name.startswith("stripe_emulator")]
    return [*lines, *captured.splitlines()]


def test_no_secret_in_any_answer_page_or_log(
    client, admin_user, emulator, stripe_client, live_server, settings, caplog, capfd
):
    all_loggers_at_debug(caplog)
    settings.STRIPE_API_BASE = emulator.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    site = live_server.url
    seen = Recorder()
    grant_tokens: list[str] = []
    tokens: list[str] = []

    # --- The administrator sets everything up in the admin ------------------------------
    seen.django_answer("admin login", client.post(
        "/admin/login/?next=/admin/",
        {"username": admin_user.email, "password": ADMIN_PASSWORD}))
    webhook = stripe_client.v1.webhook_endpoints.create(params={
        "url": f"{site}/direct/stripe/webhook/", "enabled_events": list(WEBHOOK_EVENTS)})
    webhook_secret = webhook.secret
    seen.django_answer("stripe settings saved", client.post(STRIPE_SCREEN, {
        "enabled": "on", "publishable_key": emulator.publishable_key,
        "secret_key": emulator.secret_key, "webhook_secret": webhook_secret,
        "previous_webhook_secret": "", "previous_webhook_secret_expires_at_0": "",
        "previous_webhook_secret_expires_at_1": "",
    }, follow=True))
    config = StripeSettings.load()
    assert config.enabled and config.secret_key == emulator.secret_key
    assert config.webhook_secret == webhook_secret

    price_id = create_recurring_price(stripe_client)
    seen.django_answer("group added", client.post(
        "/admin/members/membergroup/add/", {"name": "Gold", "stripe_price_id": price_id},
        follow=True))
    group = MemberGroup.objects.get(name="Gold")
    assert group.stripe_price_id == price_id

    seen.django_answer("member added", client.post("/admin/members/member/add/", {
        "email": MEMBER_EMAIL, "name": "Leak Check", "password1": MEMBER_PASSWORD,
        "password2": MEMBER_PASSWORD, "_save": "Save"}, follow=True))
    member = Member.objects.get(email=MEMBER_EMAIL)
    assert member.check_password(MEMBER_PASSWORD)

    checkout_parameters = {"products_list": [price_id], "return_url": f"{site}/thanks",
                           "return_err_url": f"{site}/sorry"}
    apis = {}
    for security in ("cookie", "dynamic_token"):
        api = Api.objects.create(title=f"Leak {security}", security=security,
                                 cors_allowed_origins=site)
        for path, operation in {"login": "login_challenge", "profile": "profile",
                                "logout": "logout", "stripe/checkout": "checkout",
                                "stripe/cancel": "cancel_order"}.items():
            Endpoint.objects.create(api=api, path=path, operation=operation,
                                    parameters=checkout_parameters if operation == "checkout"
                                    else {})
        if security == "dynamic_token":
            Endpoint.objects.create(api=api, path="token", operation="token")
        apis[security] = api

    # --- The member, on the cookie API ----------------------------------------------------
    browser = requests.Session()
    browser.headers["Origin"] = site
    cookie_base = f"{site}/rcms-api/{apis['cookie'].pk}"

    def cookie_post(path: str, body: dict | None = None, **kw) -> requests.Response:
        return seen.requests_answer(f"cookie {path}", browser.post(
            f"{cookie_base}/{path}", json=body or {}, timeout=30), **kw)

    bad = cookie_post("login", {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD + "x"})
    assert bad.status_code == 401
    # The sign-in answer carries a grant token by design: recorded apart, and that token
    # must appear nowhere else.
    login = cookie_post("login", {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD},
                        may_hold_tokens=True)
    assert login.status_code == 200, login.text
    grant_tokens.append(login.json()["grant_token"])
    seen.requests_answer("cookie profile", browser.get(f"{cookie_base}/profile", timeout=30))
    checkout = cookie_post("stripe/checkout")
    assert checkout.status_code == 200, checkout.text
    assert pay(checkout.json()["url"]).status_code == 303
    emulator.drain()
    assert wait_for(lambda: Member.objects.get(pk=member.pk).stripe_subscription_id)
    profile = seen.requests_answer("cookie profile subscribed",
                                   browser.get(f"{cookie_base}/profile", timeout=30))
    assert profile.status_code == 200

    # --- The same member on the dynamic-token API -----------------------------------------
    token_base = f"{site}/rcms-api/{apis['dynamic_token'].pk}"
    app = requests.Session()

    def token_post(path: str, body: dict | None = None, headers=None, **kw):
        return seen.requests_answer(f"token-api {path}", app.post(
            f"{token_base}/{path}", json=body or {}, headers=headers or {}, timeout=30), **kw)

    login = token_post("login", {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD},
                       may_hold_tokens=True)
    assert login.status_code == 200, login.text
    grant_tokens.append(login.json()["grant_token"])
    issued = token_post("token", {"grant_token": grant_tokens[-1]}, may_hold_tokens=True)
    assert issued.status_code == 200, issued.text
    access = issued.json()["access_token"]["value"]
    refresh = issued.json()["refresh_token"]["value"]
    refreshed = token_post("token", {"refresh_token": refresh}, may_hold_tokens=True)
    assert refreshed.status_code == 200, refreshed.text
    access2 = refreshed.json()["access_token"]["value"]
    tokens += [access, refresh, access2, refreshed.json()["refresh_token"]["value"]]
    # A used grant and an old refresh token, sent again: refused, and not echoed.
    assert token_post("token", {"grant_token": grant_tokens[-1]}).status_code in (400, 401)
    assert token_post("token", {"refresh_token": refresh}).status_code in (400, 401)
    # A used token sent again revokes its whole family: sign in afresh.
    login = token_post("login", {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD},
                       may_hold_tokens=True)
    grant_tokens.append(login.json()["grant_token"])
    reissued = token_post("token", {"grant_token": grant_tokens[-1]}, may_hold_tokens=True)
    assert reissued.status_code == 200, reissued.text
    access2 = reissued.json()["access_token"]["value"]
    tokens += [access2, reissued.json()["refresh_token"]["value"]]
    seen.requests_answer("token-api profile", app.get(
        f"{token_base}/profile", headers={"X-RCMS-API-ACCESS-TOKEN": access2}, timeout=30))
    seen.requests_answer("token-api profile old token", app.get(
        f"{token_base}/profile", headers={"X-RCMS-API-ACCESS-TOKEN": access}, timeout=30))
    cancel = token_post("stripe/cancel", headers={"X-RCMS-API-ACCESS-TOKEN": access2})
    assert cancel.status_code == 200, cancel.text
    emulator.drain()
    assert token_post("logout", headers={"X-RCMS-API-ACCESS-TOKEN": access2}).status_code == 200
    assert cookie_post("logout").status_code == 200

    # A webhook signed with the wrong secret, to log a refusal.
    seen.requests_answer("forged webhook", requests.post(
        f"{site}/direct/stripe/webhook/", data=b"{}", timeout=30,
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"}))

    # --- The administrator looks at everything -----------------------------------------------
    event = WebhookEvent.objects.order_by("id").first()
    assert event is not None
    for label, url in [
        ("stripe screen", STRIPE_SCREEN),
        ("member list", "/admin/members/member/"),
        ("member editor", f"/admin/members/member/{member.pk}/change/"),
        ("group list", "/admin/members/membergroup/"),
        ("group editor", f"/admin/members/membergroup/{group.pk}/change/"),
        ("webhook event log", "/admin/payments/webhookevent/"),
        ("webhook event", f"/admin/payments/webhookevent/{event.pk}/change/"),
        ("api list", "/admin/rcms_api/api/"),
        ("api editor", f"/admin/rcms_api/api/{apis['dynamic_token'].pk}/change/"),
    ]:
        response = seen.django_answer(label, client.get(url))
        assert response.status_code == 200, (label, response.status_code)

    # --- The search ---------------------------------------------------------------------------
    secrets = {
        "Stripe secret key": emulator.secret_key,
        "webhook secret": webhook_secret,
        "member password": MEMBER_PASSWORD,
        "admin password": ADMIN_PASSWORD,
        **{f"grant token {i}": t for i, t in enumerate(grant_tokens)},
        **{f"token {i}": t for i, t in enumerate(tokens)},
    }
    assert all(secrets.values())
    logs = log_text(caplog, capfd.readouterr().err)
    assert any("payments.stripe" in line for line in logs)  # the capture did capture
    found = [
        (name, where)
        for name, value in secrets.items()
        for where, text in [*seen.answers, *[(f"log: {line[:80]}", line) for line in logs]]
        if value in text
    ]
    assert found == []
    # The token answers hold only their own tokens: no key, secret or password.
    for label, text in seen.token_answers:
        for name in ("Stripe secret key", "webhook secret", "member password",
                     "admin password"):
            assert secrets[name] not in text, (name, label)
    assert json.dumps(seen.answers)  # recorded as plain text throughout
