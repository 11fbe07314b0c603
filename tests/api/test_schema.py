"""Each API's OpenAPI document and Swagger UI."""

from __future__ import annotations

import json
import re

import hypothesis
import pytest
from hypothesis import strategies as st
from openapi_spec_validator import validate

from kuroco_billing.rcms_api.models import Endpoint
from kuroco_billing.rcms_api.schema import EMAIL, EMAIL_MAX_LENGTH, NO_NUL
from tests.fixtures.accounts import COOKIE_ENDPOINTS, TOKEN_ENDPOINTS, make_api

pytestmark = pytest.mark.django_db

ALL_OPERATIONS = {
    "login": "login_challenge",
    "token": "token",
    "logout": "logout",
    "profile": "profile",
    "stripe/checkout": "checkout",
    "stripe/cancel": "cancel_order",
}


def document(client, api):
    response = client.get(f"/rcms-api/{api.pk}/openapi.json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def operations(doc):
    return {
        (path, method): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


@pytest.mark.parametrize("security", ["cookie", "dynamic_token"])
def test_document_with_all_operations_validates_as_openapi_3(client, security):
    api = make_api(security, ALL_OPERATIONS, title=f"Everything ({security})",
                   version="2.1", description="All six operations.")
    doc = document(client, api)

    validate(doc)
    assert doc["openapi"].startswith("3.")
    assert doc["info"] == {"title": f"Everything ({security})", "version": "2.1",
                           "description": "All six operations."}
    assert doc["servers"] == [{"url": "/", "description": "This site"}]
    expected = {(f"/rcms-api/{api.pk}/{path}", method) for path, method in [
        ("login", "post"), ("logout", "post"), ("profile", "get"),
        ("stripe/checkout", "post"), ("stripe/cancel", "post"),
    ]}
    if security == "dynamic_token":
        expected.add((f"/rcms-api/{api.pk}/token", "post"))
    assert set(operations(doc)) == expected


def test_cookie_api_documents_the_session_cookie(client, cookie_api):
    doc = document(client, cookie_api)

    assert doc["components"]["securitySchemes"] == {
        "sessionCookie": {
            "type": "apiKey", "in": "cookie", "name": "sessionid",
            "description": "The session cookie set by the login endpoint (shared by cookie APIs).",
        }
    }
    ops = operations(doc)
    base = f"/rcms-api/{cookie_api.pk}"
    assert ops[(f"{base}/profile", "get")]["security"] == [{"sessionCookie": []}]
    assert ops[(f"{base}/logout", "post")]["security"] == [{"sessionCookie": []}]
    assert ops[(f"{base}/login", "post")]["security"] == []
    assert "403" in ops[(f"{base}/logout", "post")]["responses"]


def test_token_api_documents_the_access_token_header(client, token_api):
    doc = document(client, token_api)

    schemes = doc["components"]["securitySchemes"]
    assert list(schemes) == ["accessToken"]
    assert schemes["accessToken"]["type"] == "apiKey"
    assert schemes["accessToken"]["in"] == "header"
    assert schemes["accessToken"]["name"] == "X-RCMS-API-ACCESS-TOKEN"
    ops = operations(doc)
    base = f"/rcms-api/{token_api.pk}"
    assert ops[(f"{base}/profile", "get")]["security"] == [{"accessToken": []}]
    assert ops[(f"{base}/token", "post")]["security"] == []


def test_only_enabled_endpoints_are_documented(client, token_api):
    Endpoint.objects.filter(api=token_api, operation="logout").update(enabled=False)
    other = make_api("dynamic_token", {"elsewhere": "profile"})

    paths = set(document(client, token_api)["paths"])

    assert paths == {f"/rcms-api/{token_api.pk}/{p}" for p in ("login", "token", "profile")}
    assert not any(str(other.pk) + "/elsewhere" in p for p in paths)


def test_request_and_response_schemas_come_from_the_serializers(client, token_api):
    doc = document(client, token_api)
    schemas = doc["components"]["schemas"]
    login = operations(doc)[(f"/rcms-api/{token_api.pk}/login", "post")]

    body = login["requestBody"]["content"]
    assert list(body) == ["application/json"]
    assert body["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LoginChallengeRequest"
    }
    request = schemas["LoginChallengeRequest"]
    assert set(request["properties"]) == {"email", "password", "login_save"}
    assert set(request["required"]) == {"email", "password"}

    ok = login["responses"]["200"]["content"]["application/json"]["schema"]
    response = schemas[ok["$ref"].rsplit("/", 1)[1]]
    assert {"grant_token", "status", "member_id", "info", "messages", "errors"} <= set(
        response["properties"])
    profile = schemas["ProfileResponse"]["properties"]
    assert {"member_id", "email", "name", "group_ids", "stripe_customer_id",
            "stripe_subscription_id"} <= set(profile)
    tokens = schemas["TokenResponse"]["properties"]
    assert {"access_token", "refresh_token"} <= set(tokens)


def test_errors_are_documented_with_the_envelope(client, token_api):
    doc = document(client, token_api)
    envelope = doc["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["properties"]) == {"errors", "x-rcms-request-id"}
    login = operations(doc)[(f"/rcms-api/{token_api.pk}/login", "post")]
    for status in ("400", "401", "404", "413", "429", "500", "503"):
        schema = login["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}


def test_bodiless_posts_document_an_empty_json_object(client, cookie_api):
    doc = document(client, cookie_api)
    logout = operations(doc)[(f"/rcms-api/{cookie_api.pk}/logout", "post")]
    assert logout["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"


def test_payment_operations_document_their_own_error_statuses(client):
    api = make_api(
        "dynamic_token", {"stripe/checkout": "checkout", "stripe/cancel": "cancel_order"}
    )
    ops = operations(document(client, api))
    checkout = ops[(f"/rcms-api/{api.pk}/stripe/checkout", "post")]["responses"]
    cancel = ops[(f"/rcms-api/{api.pk}/stripe/cancel", "post")]["responses"]
    assert {"409", "422", "502"} <= set(checkout)
    # Stripe refusing what the site asked is a 422 for every Stripe operation, cancel too.
    assert {"409", "422", "502"} <= set(cancel)
    assert "400" in checkout and "402" not in cancel  # only change_plan charges a card


def test_checkout_documents_a_json_body_so_swagger_sends_json(client):
    """Its serializer has no fields; without a body Swagger UI's POST is refused by CSRF."""
    api = make_api("cookie", {"stripe/checkout": "checkout"})
    doc = document(client, api)
    checkout = operations(doc)[(f"/rcms-api/{api.pk}/stripe/checkout", "post")]
    assert "application/json" in checkout["requestBody"]["content"]


@pytest.mark.parametrize("suffix", ["openapi.json", "swagger/"])
def test_unknown_or_disabled_api_has_no_document(client, cookie_api, suffix):
    unknown = client.get(f"/rcms-api/{cookie_api.pk + 50}/{suffix}")
    cookie_api.enabled = False
    cookie_api.save()
    disabled = client.get(f"/rcms-api/{cookie_api.pk}/{suffix}")

    for response in (unknown, disabled):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert body["errors"][0]["code"] == "not_found"
        assert body["x-rcms-request-id"] == response["x-rcms-request-id"]


def test_swagger_ui_uses_the_apis_document_and_local_assets(client, token_api):
    response = client.get(f"/rcms-api/{token_api.pk}/swagger/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    # escapejs writes "-" as \u002D.
    assert f'url: "/rcms\\u002Dapi/{token_api.pk}/openapi.json"' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in assets
    assert not [a for a in assets if a.startswith(("http://", "https://", "//"))]
    assert '"withCredentials": true' in html
    assert '"persistAuthorization": true' in html
    assert "Token API" in html


def test_swagger_assets_are_served_locally(client, token_api):
    from django.contrib.staticfiles import finders

    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{name}")


def test_two_apis_two_documents(client):
    cookie = make_api("cookie", COOKIE_ENDPOINTS, title="Site")
    token = make_api("dynamic_token", TOKEN_ENDPOINTS, title="App")
    assert document(client, cookie)["info"]["title"] == "Site"
    assert document(client, token)["info"]["title"] == "App"
    assert all(p.startswith(f"/rcms-api/{cookie.pk}/") for p in document(client, cookie)["paths"])


# --- The document says exactly what the server accepts ------------------------------------

def request_body_schema(doc, path: str) -> dict:
    """The operation's JSON body schema, with its components, for jsonschema."""
    body = operations(doc)[(path, "post")]["requestBody"]["content"]["application/json"]
    return {**body["schema"], "components": doc["components"]}


def document_allows(doc, path: str, body: dict) -> bool:
    from jsonschema import Draft4Validator

    return Draft4Validator(request_body_schema(doc, path)).is_valid(body)


BOUNDARY_BODIES = [
    ("login", {"email": "member@example.com", "password": ""}),
    ("login", {"email": "member@example.com", "password": "a\x00b"}),
    ("login", {"email": "member@example.com", "password": " "}),
    ("login", {"email": " member@example.com ", "password": "x"}),
    ("login", {"email": "member@localhost", "password": "x"}),
    ("login", {"email": "", "password": "x"}),
    ("login", {"email": "0@0.a", "password": "x"}),
    ("login", {"email": "a@b.c1", "password": "x"}),
    ("login", {"email": "a..b@example.com", "password": "x"}),
    ("login", {"email": "member@example.com"}),
    ("token", {}),
    ("token", {"grant_token": ""}),
    ("token", {"grant_token": "   "}),
    ("token", {"grant_token": "a\x00"}),
    ("token", {"grant_token": "x", "refresh_token": "y"}),
    ("token", {"grant_token": "x"}),
    ("token", {"refresh_token": " y "}),
    ("stripe/checkout", {}),
    ("stripe/checkout", {"price": "price_123"}),
    ("stripe/checkout", {"success_url": "https://evil.example"}),
    ("stripe/checkout", {"note": "anything else is ignored"}),
]


@pytest.mark.parametrize(("path", "body"), BOUNDARY_BODIES,
                         ids=[f"{p}-{json.dumps(b)}" for p, b in BOUNDARY_BODIES])
def test_the_document_allows_a_body_exactly_when_the_server_accepts_it(client, member, path,
                                                                        body):
    # Signed in, so that members-only operations get as far as reading the body.
    api = make_api("dynamic_token" if path == "token" else "cookie", ALL_OPERATIONS)
    client.force_login(member)
    full_path = f"/rcms-api/{api.pk}/{path}"
    allowed = document_allows(document(client, api), full_path, body)

    response = client.post(full_path, json.dumps(body), content_type="application/json")

    # 400 is the refusal of the body itself; 401 (wrong password) and 503 (Stripe is
    # off) come after the body was accepted.
    assert response.status_code in (400, 401, 503), response.content
    assert allowed == (response.status_code != 400), response.content


def test_token_requires_a_body_with_exactly_one_token(client, token_api):
    doc = document(client, token_api)
    token = operations(doc)[(f"/rcms-api/{token_api.pk}/token", "post")]

    assert token["requestBody"]["required"] is True
    assert doc["components"]["schemas"]["TokenRequest"]["oneOf"] == [
        {"required": ["grant_token"]}, {"required": ["refresh_token"]}]
    response = client.post(f"/rcms-api/{token_api.pk}/token")
    assert response.status_code == 400


def test_text_fields_document_what_drf_refuses(client, token_api):
    login = document(client, token_api)["components"]["schemas"]["LoginChallengeRequest"]
    password = login["properties"]["password"]

    assert password["minLength"] == 1
    assert password["maxLength"] == 4096
    assert password["pattern"] == NO_NUL  # kept as typed: no trimming
    assert login["properties"]["email"]["pattern"] == EMAIL


@hypothesis.settings(max_examples=200, deadline=None, database=None)
@hypothesis.given(value=st.from_regex(EMAIL).filter(lambda v: len(v) <= EMAIL_MAX_LENGTH))
def test_every_address_the_email_pattern_allows_django_accepts(value):
    from rest_framework import serializers

    field = serializers.EmailField()
    assert field.run_validation(value)


def test_only_the_checkout_fields_that_choose_the_product_are_documented_as_refused(client):
    from payments.operations import FORBIDDEN_CHECKOUT_FIELDS

    api = make_api("cookie", {"stripe/checkout": "checkout"})
    checkout = request_body_schema(document(client, api), f"/rcms-api/{api.pk}/stripe/checkout")

    refused = [rule["required"][0] for rule in checkout["not"]["anyOf"]]
    assert refused == list(FORBIDDEN_CHECKOUT_FIELDS)
    assert "refused with 400" in checkout["description"]


def test_a_get_operations_request_serializer_is_documented_as_query_parameters(client):
    api = make_api("dynamic_token", {"bills": "invoices"})

    get = operations(document(client, api))[(f"/rcms-api/{api.pk}/bills", "get")]

    assert [(p["in"], p["name"], p["schema"]["type"], p["schema"]["minimum"],
             p["schema"]["maximum"]) for p in get["parameters"]] == [
        ("query", "limit", "integer", 1, 24)]
    assert "requestBody" not in get


def test_an_endpoints_own_settings_narrow_its_request_schema(client):
    api = make_api("dynamic_token", {"gold": "change_plan", "silver": "change_plan"})
    for endpoint in api.endpoints.all():
        endpoint.parameters = {"products_list": [f"price_{endpoint.path}"]}
        endpoint.save()
    doc = document(client, api)

    offered = {
        path: request_body_schema(doc, f"/rcms-api/{api.pk}/{path}")["$ref"].rsplit("/", 1)[1]
        for path in ("gold", "silver")
    }
    assert len(set(offered.values())) == 2
    schemas = doc["components"]["schemas"]
    for path, name in offered.items():
        pattern = schemas[name]["properties"]["price_id"]["pattern"]
        assert [price for price in ("price_gold", "price_silver", "price_other")
                if re.search(pattern, price)] == [f"price_{path}"]
