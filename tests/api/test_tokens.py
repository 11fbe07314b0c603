"""The dynamic-token flow: grant → access + refresh, rotation, revocation."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from kuroco_billing.rcms_api.models import Api, ApiToken, Endpoint, hash_token
from tests.fixtures.accounts import (
    COOKIE_ENDPOINTS,
    MEMBER_PASSWORD,
    TOKEN_ENDPOINTS,
    api_login,
    auth_headers,
    endpoint_url,
    issue_tokens,
    make_api,
    post_json,
)

pytestmark = pytest.mark.django_db


def exchange(client, api, **body):
    return post_json(client, endpoint_url(api, "token"), body)


def profile(client, api, access_token=None):
    headers = {"HTTP_X_RCMS_API_ACCESS_TOKEN": access_token} if access_token else {}
    return client.get(endpoint_url(api, "profile"), **headers)


def test_grant_exchanges_for_access_and_refresh_tokens(client, token_api, member):
    grant = api_login(client, token_api, member.email, MEMBER_PASSWORD)["grant_token"]
    before = int(time.time())

    response = exchange(client, token_api, grant_token=grant)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "messages", "errors"}
    assert body["messages"] == [] and body["errors"] == []
    access, refresh = body["access_token"], body["refresh_token"]
    assert access["value"] != refresh["value"]
    assert before + 3600 <= access["expiresAt"] <= int(time.time()) + 3600
    assert before + 14 * 86400 <= refresh["expiresAt"] <= int(time.time()) + 14 * 86400
    # Stored hashed, never in clear.
    for kind, value in ((ApiToken.Kind.ACCESS, access["value"]),
                        (ApiToken.Kind.REFRESH, refresh["value"])):
        token = ApiToken.objects.get(kind=kind, api=token_api)
        assert token.token_hash == hash_token(value)
        assert not ApiToken.objects.filter(token_hash=value).exists()

    answer = profile(client, token_api, access["value"])
    assert answer.status_code == 200
    assert answer.json()["member_id"] == member.pk


def test_token_lifetimes_come_from_the_endpoint_parameters(client, token_api, member):
    Endpoint.objects.filter(api=token_api, operation="token").update(
        parameters={"access_token_lifetime": 120, "refresh_token_lifetime": 600}
    )
    now = int(time.time())
    body = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)

    assert now + 120 <= body["access_token"]["expiresAt"] <= now + 122
    assert now + 600 <= body["refresh_token"]["expiresAt"] <= now + 602


def test_a_grant_token_works_once(client, token_api, member):
    grant = api_login(client, token_api, member.email, MEMBER_PASSWORD)["grant_token"]
    assert exchange(client, token_api, grant_token=grant).status_code == 200

    again = exchange(client, token_api, grant_token=grant)
    assert again.status_code == 401
    assert again.json()["errors"][0]["code"] == "unauthorized"
    assert grant not in again.content.decode()


def test_an_expired_grant_token_is_refused(client, token_api, member):
    grant = api_login(client, token_api, member.email, MEMBER_PASSWORD)["grant_token"]
    ApiToken.objects.filter(kind=ApiToken.Kind.GRANT).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert exchange(client, token_api, grant_token=grant).status_code == 401


def test_refresh_rotates_and_the_old_refresh_token_stops_working(client, token_api, member):
    first = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)

    rotated = exchange(client, token_api, refresh_token=first["refresh_token"]["value"])
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"]["value"] != first["refresh_token"]["value"]
    assert profile(client, token_api, second["access_token"]["value"]).status_code == 200

    # The access token issued with the old refresh token died with it.
    assert profile(client, token_api, first["access_token"]["value"]).status_code == 401
    # The new refresh token works (once).
    third = exchange(client, token_api, refresh_token=second["refresh_token"]["value"])
    assert third.status_code == 200
    assert profile(client, token_api, third.json()["access_token"]["value"]).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_its_whole_family(client, token_api, member):
    first = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    second = exchange(client, token_api, refresh_token=first["refresh_token"]["value"]).json()
    third = exchange(client, token_api, refresh_token=second["refresh_token"]["value"]).json()
    elsewhere = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    tokens_before = ApiToken.objects.count()

    # The first refresh token shows up again: someone copied it.
    replay = exchange(client, token_api, refresh_token=first["refresh_token"]["value"])

    assert replay.status_code == 401
    assert replay.json()["errors"][0]["code"] == "unauthorized"
    assert "access_token" not in replay.json()
    assert ApiToken.objects.count() == tokens_before  # nothing new was issued
    # Every token issued after it from the same sign-in is dead...
    assert profile(client, token_api, third["access_token"]["value"]).status_code == 401
    assert exchange(client, token_api,
                    refresh_token=third["refresh_token"]["value"]).status_code == 401
    # ...and the member's other sign-in is not touched.
    assert profile(client, token_api, elsewhere["access_token"]["value"]).status_code == 200
    assert exchange(client, token_api,
                    refresh_token=elsewhere["refresh_token"]["value"]).status_code == 200


def test_reusing_a_grant_token_revokes_what_it_was_exchanged_for(client, token_api, member):
    grant = api_login(client, token_api, member.email, MEMBER_PASSWORD)["grant_token"]
    pair = exchange(client, token_api, grant_token=grant).json()

    assert exchange(client, token_api, grant_token=grant).status_code == 401

    assert profile(client, token_api, pair["access_token"]["value"]).status_code == 401
    assert exchange(client, token_api,
                    refresh_token=pair["refresh_token"]["value"]).status_code == 401


def test_every_token_of_one_sign_in_shares_one_family(client, token_api, member):
    first = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    exchange(client, token_api, refresh_token=first["refresh_token"]["value"])
    issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)

    families = ApiToken.objects.values_list("family", flat=True).distinct()
    assert len(families) == 2 and None not in families


def test_refresh_does_not_touch_the_members_other_sign_ins(client, token_api, member):
    phone = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    laptop = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)

    exchange(client, token_api, refresh_token=phone["refresh_token"]["value"])

    assert profile(client, token_api, laptop["access_token"]["value"]).status_code == 200


def test_an_access_token_is_not_a_refresh_token_nor_a_grant(client, token_api, member):
    tokens = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    access = tokens["access_token"]["value"]

    assert exchange(client, token_api, refresh_token=access).status_code == 401
    assert exchange(client, token_api, grant_token=access).status_code == 401
    assert profile(client, token_api, tokens["refresh_token"]["value"]).status_code == 401


def test_expired_and_unknown_access_tokens_get_401(client, token_api, member):
    tokens = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    ApiToken.objects.filter(kind=ApiToken.Kind.ACCESS).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    for value in (tokens["access_token"]["value"], "made-up-token", "x" * 5000):
        response = profile(client, token_api, value)
        assert response.status_code == 401
        assert response.json()["errors"][0]["code"] == "unauthorized"
        assert value not in response.content.decode()
    assert profile(client, token_api).status_code == 401


def test_expired_refresh_token_is_refused(client, token_api, member):
    tokens = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    ApiToken.objects.filter(kind=ApiToken.Kind.REFRESH).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert exchange(client, token_api,
                    refresh_token=tokens["refresh_token"]["value"]).status_code == 401


def test_tokens_of_a_deactivated_member_stop_working(client, token_api, member):
    tokens = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    member.is_active = False
    member.save()

    assert profile(client, token_api, tokens["access_token"]["value"]).status_code == 401
    assert exchange(client, token_api,
                    refresh_token=tokens["refresh_token"]["value"]).status_code == 401


def test_a_token_from_one_api_is_refused_on_another(client, token_api, member):
    other_api = make_api("dynamic_token", TOKEN_ENDPOINTS, title="Other token API")
    tokens = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    grant = api_login(client, token_api, member.email, MEMBER_PASSWORD)["grant_token"]

    assert profile(client, other_api, tokens["access_token"]["value"]).status_code == 401
    assert exchange(client, other_api,
                    refresh_token=tokens["refresh_token"]["value"]).status_code == 401
    assert exchange(client, other_api, grant_token=grant).status_code == 401
    # Still good where they were issued.
    assert profile(client, token_api, tokens["access_token"]["value"]).status_code == 200


def test_a_session_cookie_means_nothing_on_a_token_api(client, token_api, member):
    cookie_api = make_api("cookie", COOKIE_ENDPOINTS)
    assert auth_headers(client, cookie_api, member, MEMBER_PASSWORD) == {}
    assert client.get(endpoint_url(cookie_api, "profile")).status_code == 200

    assert profile(client, token_api).status_code == 401


def test_an_access_token_means_nothing_on_a_cookie_api(client, cookie_api, token_api, member):
    headers = auth_headers(client, token_api, member, MEMBER_PASSWORD)

    response = client.get(endpoint_url(cookie_api, "profile"), **headers)
    assert response.status_code == 401


def test_token_request_needs_exactly_one_token(client, token_api):
    for body in ({}, {"grant_token": "a", "refresh_token": "b"}):
        response = exchange(client, token_api, **body)
        assert response.status_code == 400
        error = response.json()["errors"][0]
        assert error["code"] == "bad_request"
        assert "field" not in error


def test_the_token_operation_does_not_exist_on_a_cookie_api(client, member):
    api = make_api("cookie", {**COOKIE_ENDPOINTS, "token": "token"})
    response = post_json(client, f"/rcms-api/{api.pk}/token", {"grant_token": "x"})
    assert response.status_code == 404


def test_cookie_login_grant_is_usable_nowhere(client, cookie_api, token_api, member):
    grant = api_login(client, cookie_api, member.email, MEMBER_PASSWORD)["grant_token"]
    assert ApiToken.objects.filter(api=cookie_api, token_hash=hash_token(grant)).exists()
    assert exchange(client, token_api, grant_token=grant).status_code == 401


# --- Revocation when the API changes ------------------------------------------

def live_tokens(api):
    return [t for t in ApiToken.objects.filter(api=api) if t.is_usable]


def test_disabling_an_api_revokes_its_tokens(client, token_api, member):
    tokens = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    other_api = make_api("dynamic_token", TOKEN_ENDPOINTS, title="Other")
    issue_tokens(client, other_api, member.email, MEMBER_PASSWORD)

    token_api.enabled = False
    token_api.save()
    token_api.enabled = True
    token_api.save()

    assert live_tokens(token_api) == []
    assert len(live_tokens(other_api)) == 2
    assert profile(client, token_api, tokens["access_token"]["value"]).status_code == 401


def test_changing_the_security_mode_revokes_its_tokens(client, token_api, member):
    tokens = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)

    token_api.security = Api.Security.COOKIE
    token_api.save()
    token_api.security = Api.Security.DYNAMIC_TOKEN
    token_api.save()

    assert live_tokens(token_api) == []
    assert profile(client, token_api, tokens["access_token"]["value"]).status_code == 401


def test_other_edits_keep_the_tokens(client, token_api, member):
    tokens = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)

    token_api.title = "Renamed"
    token_api.cors_allowed_origins = "https://app.example.com"
    token_api.save()

    assert profile(client, token_api, tokens["access_token"]["value"]).status_code == 200


def test_an_expired_rotated_refresh_token_still_revokes_its_family(client, token_api, member):
    first = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    second = exchange(client, token_api, refresh_token=first["refresh_token"]["value"]).json()
    ApiToken.objects.filter(token_hash=hash_token(first["refresh_token"]["value"])).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert exchange(client, token_api,
                    refresh_token=first["refresh_token"]["value"]).status_code == 401
    assert profile(client, token_api, second["access_token"]["value"]).status_code == 401
