"""Every failure under /rcms-api/ answers in the envelope, with DEBUG on or off.

Django's HTML pages (the debug 404 and 500 pages included) must never be reachable:
not for an unknown path, a refused host, a body too large, an exception deep inside an
operation, nor settings that cannot be decrypted.
"""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from tests.fixtures.accounts import (
    MEMBER_EMAIL,
    MEMBER_PASSWORD,
    auth_headers,
    endpoint_url,
    make_api,
    post_json,
)

pytestmark = pytest.mark.django_db

OTHER_FERNET_KEY = "Zm9yLXRlc3RzLW9ubHktbm90LXRoZS1yZWFsLWtleT0="
CREDENTIALS = {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD}


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings, client):
    settings.DEBUG = request.param
    client.raise_request_exception = False  # what a real server does
    return request.param


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors", "x-rcms-request-id"}
    assert body["errors"][0]["code"] == code
    assert body["x-rcms-request-id"] == response["x-rcms-request-id"]
    assert b"<html" not in response.content.lower()
    return body


@pytest.mark.parametrize("path", [
    "/rcms-api/", "/rcms-api/x", "/rcms-api/99999/nothing", "/rcms-api/1/",
    "/rcms-api/99999/openapi.json",
])
def test_unknown_paths_are_404(client, debug, path):
    assert_envelope(client.get(path), 404, "not_found")


def test_a_path_with_a_nul_character_is_404(client, debug, cookie_api, caplog):
    response = client.get(f"/rcms-api/{cookie_api.pk}/pro%00file")

    assert_envelope(response, 404, "not_found")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_session_cookie_with_a_nul_character_is_no_session(client, debug, cookie_api,
                                                            caplog):
    """http.cookies turns an escaped \\000 into a real NUL, which the database refuses:
    such a key is no session (401 here), not a 500 and two ERROR lines a request."""
    response = client.get(endpoint_url(cookie_api, "profile"),
                          HTTP_COOKIE='sessionid="\\000abcdefghijklmnop"')

    assert_envelope(response, 401, "unauthorized")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert client.get("/admin/", HTTP_COOKIE='sessionid="\\000abcdefghijklmnop"'
                      ).status_code == 302  # the admin: to its login page


def test_a_host_django_refuses_is_400(client, debug, cookie_api):
    # DisallowedHost is raised by a middleware, before any view: Django's debug page.
    response = client.get(endpoint_url(cookie_api, "profile"), HTTP_HOST="evil.example.net")
    assert_envelope(response, 400, "bad_request")


@pytest.mark.parametrize("body", [
    b'{"email": "member@example.com", "password": "x", "login_save": 1' + b"0" * 5000 + b"}",
    b"1" * 5000,
], ids=["in-a-field", "the-whole-body"])
def test_a_number_too_long_for_python_is_a_malformed_body(client, debug, cookie_api, caplog,
                                                          body):
    """Python reads no integer of more than 4,300 digits (a ValueError, not a syntax error)."""
    response = client.post(endpoint_url(cookie_api, "login_challenge"), data=body,
                           content_type="application/json")

    envelope = assert_envelope(response, 400, "bad_request")
    assert envelope["errors"][0]["message"] == "Malformed JSON body: a number too long."
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("accept", ["text/html", "*/*"])
def test_options_on_the_swagger_page_says_what_it_allows(client, debug, cookie_api, caplog,
                                                         accept):
    response = client.options(f"/rcms-api/{cookie_api.pk}/swagger/", HTTP_ACCEPT=accept)

    assert (response.status_code, response["Allow"], response.content) == (
        204, "GET, HEAD, OPTIONS", b"")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_body_too_large_is_413(client, debug, cookie_api, settings):
    settings.RCMS_API_MAX_BODY_BYTES = 100
    response = post_json(client, endpoint_url(cookie_api, "login_challenge"),
                         {"email": "x" * 500, "password": "y"})
    assert_envelope(response, 413, "payload_too_large")


def test_a_form_body_over_djangos_own_limit_is_json(client, debug, cookie_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client.post(endpoint_url(cookie_api, "login_challenge"),
                           {"email": "x" * 500, "password": "y"})
    assert response.status_code in (400, 403, 413)
    assert response["Content-Type"] == "application/json"


def test_an_exception_deep_inside_an_operation_is_500(client, debug, cookie_api, member,
                                                      monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the password backend broke")

    # Django's own password check breaks while the member signs in.
    monkeypatch.setattr("django.contrib.auth.backends.ModelBackend.authenticate", broken)
    response = post_json(client, endpoint_url(cookie_api, "login_challenge"), CREDENTIALS)

    body = assert_envelope(response, 500, "internal_server_error")
    assert body["errors"][0]["message"] == (
        "An unexpected error occurred. Quote the request id when reporting it.")
    assert MEMBER_PASSWORD not in response.content.decode()
    assert MEMBER_PASSWORD not in caplog.text
    assert body["x-rcms-request-id"] in caplog.text  # the log line to look for


@pytest.mark.parametrize("operation", ["checkout", "cancel_order"])
def test_undecryptable_settings_are_503_with_one_error_line(client, debug, member, settings,
                                                            stripe_settings, caplog, operation):
    api = make_api("dynamic_token", {"login": "login_challenge", "token": "token",
                                     "pay": operation})
    api.endpoints.filter(operation="checkout").update(parameters={
        "products_list": ["price_gold"], "return_url": "https://example.com/ok",
        "return_err_url": "https://example.com/ng"})
    headers = auth_headers(client, api, member, MEMBER_PASSWORD)
    settings.FIELD_ENCRYPTION_KEYS = [OTHER_FERNET_KEY]
    caplog.clear()

    response = post_json(client, endpoint_url(api, operation), {}, **headers)

    body = assert_envelope(response, 503, "service_unavailable")
    assert body["errors"][0]["message"] == (
        "The payment settings cannot be read right now. Try again later.")
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "cannot be decrypted with FIELD_ENCRYPTION_KEY" in errors[0].getMessage()
    assert errors[0].exc_info is None
    for secret in (OTHER_FERNET_KEY, "sk_test_unit", "whsec_unit_current"):
        assert secret not in caplog.text
        assert secret not in response.content.decode()


def test_an_html_refusal_from_another_layer_becomes_the_envelope(client, debug, cookie_api,
                                                                 monkeypatch):
    from django.http import HttpResponse

    from kuroco_billing.rcms_api import failures

    # Whatever layer answered with a page (here: a stand-in for a middleware's lockout page).
    page = HttpResponse("<html>Locked out</html>", status=429, headers={"Retry-After": "60"})
    middleware = failures.JsonFailuresMiddleware(lambda request: page)

    response = middleware(RequestFactory().get(endpoint_url(cookie_api, "profile")))

    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    body = json.loads(response.content)
    assert body["errors"] == [{"code": "too_many_requests", "message": "Too Many Requests."}]
    assert body["x-rcms-request-id"] == response["x-rcms-request-id"]


def test_pages_elsewhere_are_left_alone(client, debug, db):
    response = client.get("/admin/nothing-here/")
    assert response.status_code in (302, 404)
    assert response.get("Content-Type", "").startswith("text/html")
