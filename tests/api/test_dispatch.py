"""Routing, the envelope, and every error the dispatcher answers with."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from django.test import RequestFactory

from kuroco_billing.rcms_api import views
from kuroco_billing.rcms_api.models import Endpoint
from tests.api.handlers import LEAKY_SECRET
from tests.fixtures.accounts import (
    COOKIE_ENDPOINTS,
    MEMBER_EMAIL,
    MEMBER_PASSWORD,
    endpoint_url,
    make_api,
    post_json,
)

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str, *, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"errors", "x-rcms-request-id"}
    assert body["x-rcms-request-id"] == response["x-rcms-request-id"]
    uuid.UUID(body["x-rcms-request-id"])
    error = body["errors"][0]
    assert error["code"] == code
    assert error["message"]
    if field is None:
        assert "field" not in error
    else:
        assert error["field"] == field
    return error


@pytest.fixture
def faults_api(db, test_operations):
    return make_api("dynamic_token", {
        "explode": "explode",
        "db": "unreachable_database",
        "missing": "missing_handler",
        "echo": "echo_get",
        "echo-post": "echo_post",
    })


# --- Routing -------------------------------------------------------------------

def test_unknown_api_is_404(client, cookie_api):
    assert_error(client.get(f"/rcms-api/{cookie_api.pk + 100}/profile"), 404, "not_found")


def test_disabled_api_is_404(client, cookie_api, member):
    cookie_api.enabled = False
    cookie_api.save()
    assert_error(client.get(endpoint_url(cookie_api, "profile")), 404, "not_found")
    response = post_json(client, f"/rcms-api/{cookie_api.pk}/login",
                         {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD})
    assert_error(response, 404, "not_found")


def test_unknown_path_is_404(client, cookie_api):
    assert_error(client.get(f"/rcms-api/{cookie_api.pk}/no/such/thing"), 404, "not_found")


def test_disabled_endpoint_is_404(client, cookie_api):
    Endpoint.objects.filter(api=cookie_api, operation="profile").update(enabled=False)
    assert_error(client.get(f"/rcms-api/{cookie_api.pk}/profile"), 404, "not_found")


@pytest.mark.parametrize("path", ["/rcms-api/", "/rcms-api/abc/login", "/rcms-api/1/",
                                  "/rcms-api/1", "/rcms-api/x"])
def test_everything_else_under_rcms_api_is_a_json_404(client, cookie_api, path):
    assert_error(client.get(path), 404, "not_found")


def test_trailing_slash_reaches_the_endpoint(client, cookie_api):
    # profile exists, the member is not signed in: 401, not 404.
    assert_error(client.get(f"/rcms-api/{cookie_api.pk}/profile/"), 401, "unauthorized")


def test_wrong_method_is_405_with_allow(client, cookie_api):
    response = client.get(endpoint_url(cookie_api, "login_challenge"))
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST, OPTIONS"

    response = post_json(client, endpoint_url(cookie_api, "profile"))
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, OPTIONS"


def test_plain_options_lists_the_methods(client, cookie_api):
    response = client.options(endpoint_url(cookie_api, "login_challenge"))
    assert response.status_code == 204
    assert response["Allow"] == "POST, OPTIONS"


def test_get_operations_receive_the_query_string(client, faults_api):
    response = client.get(f"/rcms-api/{faults_api.pk}/echo?a=1&b=two")
    assert response.status_code == 200
    assert response.json() == {"data": {"a": "1", "b": "two"}, "member_id": None,
                               "messages": [], "errors": []}


def test_success_carries_a_request_id_header(client, faults_api):
    response = post_json(client, f"/rcms-api/{faults_api.pk}/echo-post", {"x": [1, 2]})
    assert response.status_code == 200
    assert response.json()["data"] == {"x": [1, 2]}
    uuid.UUID(response["x-rcms-request-id"])


def test_each_request_gets_its_own_id(client, cookie_api):
    first = client.get(endpoint_url(cookie_api, "profile"))
    second = client.get(endpoint_url(cookie_api, "profile"))
    assert first["x-rcms-request-id"] != second["x-rcms-request-id"]


# --- Bodies ----------------------------------------------------------------------

@pytest.mark.parametrize("api_fixture", ["cookie_api", "token_api"])
def test_malformed_json_is_400(client, request, api_fixture):
    api = request.getfixturevalue(api_fixture)
    body = '{"email": "member@example.com", "password": "hunter2-secret",'
    response = client.post(endpoint_url(api, "login_challenge"), body,
                           content_type="application/json")
    error = assert_error(response, 400, "bad_request")
    assert error["message"].startswith("Malformed JSON body")
    assert "hunter2-secret" not in response.content.decode()


def test_invalid_utf8_is_malformed_json(client, token_api):
    response = client.post(endpoint_url(token_api, "login_challenge"), b"\xff\xfe{}",
                           content_type="application/json")
    assert assert_error(response, 400, "bad_request")["message"].startswith("Malformed JSON")


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400(client, token_api, body):
    response = client.post(endpoint_url(token_api, "login_challenge"), body,
                           content_type="application/json")
    assert assert_error(response, 400, "bad_request")["message"] == (
        "The JSON body must be an object."
    )


def test_a_non_json_body_is_400_on_token_apis(client, token_api):
    response = client.post(endpoint_url(token_api, "login_challenge"),
                           "email=member@example.com&password=x",
                           content_type="application/x-www-form-urlencoded")
    error = assert_error(response, 400, "bad_request")
    assert "Content-Type must be application/json" in error["message"]


def test_a_non_json_body_is_403_on_cookie_apis_csrf_comes_first(client, cookie_api):
    response = client.post(endpoint_url(cookie_api, "login_challenge"),
                           "email=member@example.com&password=x",
                           content_type="application/x-www-form-urlencoded")
    assert_error(response, 403, "forbidden")


def test_field_errors_are_one_entry_per_field(client, token_api):
    response = post_json(client, endpoint_url(token_api, "login_challenge"),
                         {"email": "nope", "login_save": "maybe"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert sorted(e["field"] for e in errors) == ["email", "login_save", "password"]
    assert all(e["code"] == "bad_request" and e["message"] for e in errors)


def test_an_oversized_body_is_413(client, token_api, settings):
    settings.RCMS_API_MAX_BODY_BYTES = 200
    body = json.dumps({"email": MEMBER_EMAIL, "password": "p" * 300})
    response = client.post(endpoint_url(token_api, "login_challenge"), body,
                           content_type="application/json")
    error = assert_error(response, 413, "payload_too_large")
    assert "200" in error["message"]
    assert "ppp" not in response.content.decode()


def test_a_declared_oversized_body_is_refused_before_reading(client, token_api, settings):
    settings.RCMS_API_MAX_BODY_BYTES = 200
    # The test client's body is tiny; reading CONTENT_LENGTH bytes of it would fail.
    response = client.post(endpoint_url(token_api, "login_challenge"), "{}",
                           content_type="application/json", CONTENT_LENGTH="10000000")
    assert_error(response, 413, "payload_too_large")


def test_a_body_at_the_limit_is_read(client, token_api, member, settings):
    body = json.dumps({"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD})
    settings.RCMS_API_MAX_BODY_BYTES = len(body)
    response = client.post(endpoint_url(token_api, "login_challenge"), body,
                           content_type="application/json")
    assert response.status_code == 200


# --- Failures inside ---------------------------------------------------------------

def test_an_unexpected_error_is_a_generic_500_logged_with_the_request_id(
    client, faults_api, caplog
):
    with caplog.at_level(logging.ERROR, logger="kuroco_billing.rcms_api.dispatch"):
        response = post_json(client, f"/rcms-api/{faults_api.pk}/explode")

    error = assert_error(response, 500, "internal_server_error")
    text = response.content.decode()
    assert "handler bug" not in text and "Traceback" not in text and LEAKY_SECRET not in text
    assert "request id" in error["message"]
    request_id = response["x-rcms-request-id"]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_a_handler_that_cannot_be_imported_is_a_500(client, faults_api):
    assert_error(post_json(client, f"/rcms-api/{faults_api.pk}/missing"), 500,
                 "internal_server_error")


def test_an_unreachable_database_is_503(client, faults_api, caplog):
    with caplog.at_level(logging.ERROR, logger="kuroco_billing.rcms_api.dispatch"):
        response = post_json(client, f"/rcms-api/{faults_api.pk}/db")
    assert_error(response, 503, "service_unavailable")
    assert any(response["x-rcms-request-id"] in r.getMessage() for r in caplog.records)


def test_django_level_errors_under_rcms_api_are_json():
    request = RequestFactory().get("/rcms-api/1/profile")
    response = views.server_error(request)
    assert_error(response, 500, "internal_server_error")
    assert_error(views.page_not_found(request, Exception()), 404, "not_found")
    assert_error(views.bad_request(request, Exception()), 400, "bad_request")
    assert_error(views.permission_denied(request, Exception()), 403, "forbidden")


def test_django_level_errors_elsewhere_stay_html():
    request = RequestFactory().get("/admin/")
    response = views.server_error(request)
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_disabled_endpoint_with_an_enabled_twin_path(client, member):
    api = make_api("cookie", COOKIE_ENDPOINTS)
    Endpoint.objects.create(api=api, path="profile", operation="profile", enabled=False)
    assert_error(client.get(f"/rcms-api/{api.pk}/profile"), 401, "unauthorized")
