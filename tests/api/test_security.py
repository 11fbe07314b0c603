"""The cookie APIs' CSRF rule, and CORS on both security modes."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import SESSION_KEY

from tests.fixtures.accounts import (
    COOKIE_ENDPOINTS,
    MEMBER_EMAIL,
    MEMBER_PASSWORD,
    TOKEN_ENDPOINTS,
    auth_headers,
    endpoint_url,
    make_api,
    post_json,
)

pytestmark = pytest.mark.django_db

APP = "https://app.example.com"
EVIL = "https://evil.example.net"
CREDENTIALS = {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD}


@pytest.fixture
def cors_cookie_api(db):
    return make_api("cookie", COOKIE_ENDPOINTS, cors_allowed_origins=f"{APP}\n")


@pytest.fixture
def cors_token_api(db):
    return make_api("dynamic_token", TOKEN_ENDPOINTS, cors_allowed_origins=f"{APP}/",
                    cors_allow_credentials=False)


def login(client, api, **extra):
    return post_json(client, endpoint_url(api, "login_challenge"), CREDENTIALS, **extra)


# --- CSRF on cookie APIs -----------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"HTTP_ORIGIN": EVIL},
    {"HTTP_ORIGIN": "null"},
    {"HTTP_REFERER": f"{EVIL}/page.html"},
    {"HTTP_ORIGIN": "http://testserver:8080"},  # another port is another origin
    {"HTTP_ORIGIN": "https://testserver"},  # and so is another scheme
])
def test_a_cross_site_post_is_403(client, cors_cookie_api, member, headers):
    response = login(client, cors_cookie_api, **headers)

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "forbidden"
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize("headers", [
    {},  # no Origin, no Referer: fine when JSON
    {"HTTP_ORIGIN": "http://testserver"},  # the site itself
    {"HTTP_REFERER": "http://testserver/rcms-api/1/swagger/"},
    {"HTTP_ORIGIN": APP},  # a listed CORS origin
    {"HTTP_REFERER": f"{APP}/checkout?step=2"},
])
def test_same_site_or_listed_origin_json_post_is_allowed(client, cors_cookie_api, member,
                                                          headers):
    response = login(client, cors_cookie_api, **headers)
    assert response.status_code == 200
    assert int(client.session[SESSION_KEY]) == member.pk


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
])
def test_a_non_json_post_is_403_even_from_an_allowed_origin(client, cors_cookie_api, member,
                                                            content_type):
    response = client.post(endpoint_url(cors_cookie_api, "login_challenge"),
                           json.dumps(CREDENTIALS), content_type=content_type,
                           HTTP_ORIGIN=APP)
    assert response.status_code == 403
    assert "application/json" in response.json()["errors"][0]["message"]
    assert SESSION_KEY not in client.session


def test_a_forged_logout_does_not_end_the_session(client, cors_cookie_api, member):
    auth_headers(client, cors_cookie_api, member, MEMBER_PASSWORD)

    forged = post_json(client, endpoint_url(cors_cookie_api, "logout"), HTTP_ORIGIN=EVIL)
    form = client.post(endpoint_url(cors_cookie_api, "logout"), "",
                       content_type="application/x-www-form-urlencoded")

    assert forged.status_code == 403 and form.status_code == 403
    assert int(client.session[SESSION_KEY]) == member.pk


def test_csrf_is_checked_before_sign_in(client, cors_cookie_api):
    # Anonymous and cross-site: the CSRF refusal comes first.
    response = post_json(client, endpoint_url(cors_cookie_api, "logout"), HTTP_ORIGIN=EVIL)
    assert response.status_code == 403


def test_get_is_not_subject_to_the_csrf_rule(client, cors_cookie_api, member):
    auth_headers(client, cors_cookie_api, member, MEMBER_PASSWORD)
    response = client.get(endpoint_url(cors_cookie_api, "profile"), HTTP_ORIGIN=EVIL)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response  # but EVIL can't read it


def test_token_apis_have_no_csrf_rule(client, cors_token_api, member):
    # Tokens are sent by script, never by the browser on its own.
    response = login(client, cors_token_api, HTTP_ORIGIN=EVIL)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


# --- CORS -----------------------------------------------------------------------------

def preflight(client, url, origin, method="POST"):
    return client.options(url, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
                          HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type")


def test_preflight_from_a_listed_origin(client, cors_cookie_api):
    response = preflight(client, endpoint_url(cors_cookie_api, "login_challenge"), APP)

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert response["Access-Control-Allow-Headers"] == "Content-Type, X-RCMS-API-ACCESS-TOKEN"
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "Origin" in response["Vary"]
    assert response["x-rcms-request-id"]


def test_preflight_without_credentials(client, cors_token_api):
    response = preflight(client, endpoint_url(cors_token_api, "profile"), APP, "GET")

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == APP
    assert "Access-Control-Allow-Credentials" not in response
    assert response["Access-Control-Allow-Methods"] == "GET, OPTIONS"


@pytest.mark.parametrize("origin", [EVIL, "https://app.example.com.evil.net", "null"])
def test_preflight_from_another_origin_gets_no_allow_headers(client, cors_cookie_api, origin):
    response = preflight(client, endpoint_url(cors_cookie_api, "login_challenge"), origin)

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "forbidden"
    for header in ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
                   "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"):
        assert header not in response


def test_preflight_on_an_api_without_origins_is_refused(client, cookie_api):
    response = preflight(client, endpoint_url(cookie_api, "login_challenge"), APP)
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response


def test_preflight_for_an_unknown_path_is_404(client, cors_cookie_api):
    response = preflight(client, f"/rcms-api/{cors_cookie_api.pk}/nope", APP)
    assert response.status_code == 404


def test_responses_to_a_listed_origin_are_readable(client, cors_token_api, member):
    response = login(client, cors_token_api, HTTP_ORIGIN=APP)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "Access-Control-Allow-Credentials" not in response
    exposed = [h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")]
    assert {"x-rcms-request-id", "x-rcms-ratelimit-limit", "x-rcms-ratelimit-remaining",
            "x-rcms-ratelimit-reset"} <= set(exposed)
    assert "Origin" in response["Vary"]


def test_errors_to_a_listed_origin_are_readable_too(client, cors_cookie_api):
    response = client.get(endpoint_url(cors_cookie_api, "profile"), HTTP_ORIGIN=APP)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Allow-Credentials"] == "true"


def test_origins_are_per_api(client, cors_cookie_api, cookie_api, member):
    assert login(client, cookie_api, HTTP_ORIGIN=APP).status_code == 403
    response = client.get(endpoint_url(cookie_api, "profile"), HTTP_ORIGIN=APP)
    assert "Access-Control-Allow-Origin" not in response


# --- Malformed headers -------------------------------------------------------------

@pytest.mark.parametrize("referer", ["http://[::1", "https://[", "http://a]b/"])
def test_a_malformed_referer_is_400_in_the_envelope(client, cors_cookie_api, member, referer):
    response = login(client, cors_cookie_api, HTTP_REFERER=referer)

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [{
        "code": "bad_request",
        "message": "Request refused: the Referer header is not a valid URL."}]
    assert SESSION_KEY not in client.session
