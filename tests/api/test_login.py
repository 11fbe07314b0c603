"""login_challenge on cookie and dynamic-token APIs, and sign-in throttling (django-axes)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from kuroco_billing.rcms_api.models import ApiToken, hash_token
from tests.fixtures.accounts import (
    MEMBER_EMAIL,
    MEMBER_PASSWORD,
    api_login,
    endpoint_url,
    post_json,
)

pytestmark = pytest.mark.django_db


def login(client, api, email=MEMBER_EMAIL, password=MEMBER_PASSWORD, **extra):
    return post_json(
        client, endpoint_url(api, "login_challenge"),
        {"email": email, "password": password, "login_save": extra.pop("login_save", False)},
        **extra,
    )


def test_cookie_login_answers_kuroco_shape_and_starts_a_session(client, cookie_api, member):
    before = int(time.time())
    response = login(client, cookie_api)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"grant_token", "status", "member_id", "info", "messages", "errors"}
    assert body["status"] == 0
    assert body["member_id"] == member.pk
    assert body["messages"] == [] and body["errors"] == []
    valid_until = body["info"]["validUntil"]
    assert before + settings.RCMS_GRANT_TOKEN_SECONDS <= valid_until
    assert valid_until <= int(time.time()) + settings.RCMS_GRANT_TOKEN_SECONDS + 1
    assert int(client.session[SESSION_KEY]) == member.pk
    assert response.headers["x-rcms-request-id"]


def test_cookie_login_without_login_save_is_a_browser_session(client, cookie_api, member):
    response = login(client, cookie_api, login_save=False)

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value
    assert cookie["max-age"] == "" and cookie["expires"] == ""
    assert client.session.get_expire_at_browser_close()


def test_cookie_login_with_login_save_is_persistent(client, cookie_api, member):
    response = login(client, cookie_api, login_save=True)

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE
    assert not client.session.get_expire_at_browser_close()


def test_cookie_login_rotates_the_session_key(client, cookie_api, member):
    session = client.session
    session["before-login"] = "yes"
    session.save()
    old_key = session.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = old_key

    login(client, cookie_api)

    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key and new_key != old_key


def test_token_api_login_issues_a_hashed_single_grant(client, token_api, member):
    response = login(client, token_api)

    assert response.status_code == 200
    grant = response.json()["grant_token"]
    stored = ApiToken.objects.get(api=token_api, kind=ApiToken.Kind.GRANT)
    assert stored.token_hash == hash_token(grant) != grant
    assert stored.member == member
    assert SESSION_KEY not in client.session  # no session on a token API
    lifetime = (stored.expires_at - stored.created_at).total_seconds()
    assert lifetime == settings.RCMS_GRANT_TOKEN_SECONDS


def test_email_is_case_insensitive(client, cookie_api, member):
    response = login(client, cookie_api, email="Member@Example.COM")
    assert response.status_code == 200


@pytest.mark.parametrize("api_fixture", ["cookie_api", "token_api"])
def test_wrong_password_and_inactive_member_get_the_same_401(
    client, request, api_fixture, member, inactive_member
):
    api = request.getfixturevalue(api_fixture)
    wrong = login(client, api, password="not-the-password")
    inactive = login(client, api, email=inactive_member.email, password="inactive-pass-123")
    unknown = login(client, api, email="nobody@example.com")

    for response in (wrong, inactive, unknown):
        assert response.status_code == 401
        body = response.json()
        assert body["errors"] == [{"code": "unauthorized", "message": "Invalid email or password."}]
        assert body["x-rcms-request-id"] == response.headers["x-rcms-request-id"]
    assert SESSION_KEY not in client.session
    assert not ApiToken.objects.exists()


def test_login_field_errors_name_each_field(client, cookie_api):
    response = post_json(client, endpoint_url(cookie_api, "login_challenge"),
                         {"email": "not-an-email"})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == {"email", "password"}
    assert all(e["code"] == "bad_request" for e in errors)


# --- Throttling (django-axes) -------------------------------------------------

def fail(client, api, email=MEMBER_EMAIL, times=1, **extra):
    responses = [login(client, api, email=email, password="wrong-password", **extra)
                 for _ in range(times)]
    return responses[-1]


@pytest.mark.parametrize("api_fixture", ["cookie_api", "token_api"])
def test_repeated_failures_for_one_email_lock_it_out_with_retry_after(
    client, request, api_fixture, member
):
    api = request.getfixturevalue(api_fixture)
    limit = settings.AXES_FAILURE_LIMIT
    assert fail(client, api, times=limit - 1).status_code == 401

    locked = fail(client, api)  # reaches the limit
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert locked.json()["errors"][0]["code"] == "too_many_requests"
    cool_off = int(timedelta(hours=settings.AXES_COOLOFF_TIME).total_seconds())
    assert 0 < int(locked["Retry-After"]) <= cool_off
    assert int(locked["Retry-After"]) >= cool_off - 5

    # Even the right password is refused now from this address (the lockout is
    # per account and address; tests/api/test_lockouts.py has the rest).
    right = login(client, api)
    assert right.status_code == 429
    assert "Retry-After" in right


def test_lockout_ends_after_the_cool_off(client, cookie_api, member):
    fail(client, cookie_api, times=settings.AXES_FAILURE_LIMIT)
    assert login(client, cookie_api).status_code == 429

    # Let the cool-off pass: age every recorded attempt beyond it.
    cool_off = timedelta(hours=settings.AXES_COOLOFF_TIME)
    AccessAttempt.objects.update(attempt_time=timezone.now() - cool_off - timedelta(seconds=1))

    response = login(client, cookie_api)
    assert response.status_code == 200
    assert response.json()["member_id"] == member.pk


def test_retry_after_counts_down_from_the_attempt_that_hit_the_limit(client, cookie_api, member):
    fail(client, cookie_api, times=settings.AXES_FAILURE_LIMIT)
    cool_off = timedelta(hours=settings.AXES_COOLOFF_TIME)
    AccessAttempt.objects.update(attempt_time=timezone.now() - cool_off + timedelta(seconds=30))

    response = login(client, cookie_api)
    assert response.status_code == 429
    assert 25 <= int(response["Retry-After"]) <= 31


def test_a_successful_sign_in_resets_the_failure_count(client, token_api, member):
    fail(client, token_api, times=settings.AXES_FAILURE_LIMIT - 1)
    assert login(client, token_api).status_code == 200
    assert fail(client, token_api, times=settings.AXES_FAILURE_LIMIT - 1).status_code == 401


def test_admin_login_still_works_with_axes(client, admin_user):
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin_user.email, "password": "admin-pass-123"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert int(client.session[SESSION_KEY]) == admin_user.pk


def test_login_never_echoes_the_password(client, cookie_api, member):
    secret = "correct-horse-battery-staple"
    for payload in (
        {"email": MEMBER_EMAIL, "password": secret},
        {"email": secret, "password": secret},
        {"email": MEMBER_EMAIL, "password": secret, "login_save": secret},
    ):
        response = post_json(client, endpoint_url(cookie_api, "login_challenge"), payload)
        assert response.status_code in (400, 401)
        assert secret not in response.content.decode()
    assert api_login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD)["member_id"] == member.pk
