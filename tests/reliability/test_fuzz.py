"""Generated requests against every operation of the seeded APIs, and random webhooks.

schemathesis reads each API's own ``/rcms-api/{id}/openapi.json`` and calls the WSGI
app in-process as the signed-in demo member (API 1: session cookie and an allowed
Origin; API 2: an access token). Every answer must be non-5xx and match the document,
error envelopes included. Stripe is not configured, so checkout must answer 503 in the
documented envelope.
"""

from __future__ import annotations

import json
import time

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from kuroco_billing.wsgi import application
from members.models import Member, MemberGroup, Membership
from payments.models import StripeSettings, SubscriptionState, WebhookEvent
from tests.fixtures.billing import make_event, make_subscription, signature_header

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_EMAIL = "member@example.com"
DEMO_PASSWORD = "member-pass-123"
ALLOWED_ORIGIN = "http://127.0.0.1:8000"  # one of the origins seed_demo allows
MAX_EXAMPLES = 25
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
    suppress_health_check=list(HealthCheck),
)
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def seeded(settings, client):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.DEMO_MEMBER_PASSWORD = DEMO_PASSWORD
    settings.AXES_ENABLED = False
    call_command("seed_demo", "--no-stripe", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert not StripeSettings.load().enabled


def cookie_auth(client) -> dict:
    response = client.post("/rcms-api/1/login", data=json.dumps(
        {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}), content_type="application/json",
        HTTP_ORIGIN=ALLOWED_ORIGIN)
    assert response.status_code == 200, response.content
    return {"cookies": {"sessionid": client.cookies["sessionid"].value},
            "headers": {"Origin": ALLOWED_ORIGIN}}


def token_auth(client) -> dict:
    login = client.post("/rcms-api/2/login", data=json.dumps(
        {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}), content_type="application/json")
    assert login.status_code == 200, login.content
    tokens = client.post("/rcms-api/2/token", data=json.dumps(
        {"grant_token": login.json()["grant_token"]}), content_type="application/json")
    assert tokens.status_code == 200, tokens.content
    return {"cookies": {}, "headers": {
        "X-RCMS-API-ACCESS-TOKEN": tokens.json()["access_token"]["value"]}}


SIGN_IN = {1: cookie_auth, 2: token_auth}
# Signing out ends the session the other cases use: sign in again after each one.
ENDS_THE_SESSION = {"logout"}


def fuzz_operation(operation, api_id: int, client, auth: dict, deadline: float) -> int:
    """Up to MAX_EXAMPLES generated cases for one operation; returns how many ran."""
    ends_session = operation.path.rstrip("/").rsplit("/", 1)[-1] in ENDS_THE_SESSION
    # With Stripe off, the payment operations answer 503 by design (checked below).
    needs_stripe = "/stripe/" in operation.path
    ran = 0

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def check(case):
        nonlocal ran
        if time.monotonic() > deadline:
            return
        response = case.call(headers=dict(auth["headers"]), cookies=dict(auth["cookies"]))
        ran += 1
        if needs_stripe and response.status_code == 503:
            assert response.json()["errors"][0]["code"] == "service_unavailable"
            case.validate_response(response, checks=[response_schema_conformance])
        else:
            case.validate_response(response, checks=CHECKS)
        if ends_session:
            auth.update(SIGN_IN[api_id](client))

    check()
    return ran


def fuzz_api(api_id: int, client) -> dict[str, int]:
    """Run every operation of one API; returns how many cases each operation ran."""
    schema = schemathesis.openapi.from_wsgi(f"/rcms-api/{api_id}/openapi.json", application)
    auth = SIGN_IN[api_id](client)
    deadline = time.monotonic() + 60  # a time budget per API on top of max_examples
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operations"
    return {op.label: fuzz_operation(op, api_id, client, auth, deadline) for op in operations}


@pytest.mark.parametrize("api_id", [1, 2])
def test_generated_requests_never_5xx_and_match_the_document(seeded, client, api_id):
    ran = fuzz_api(api_id, client)

    assert any("checkout" in label for label in ran), ran
    assert all(count > 0 for count in ran.values()), ran


@pytest.mark.parametrize("api_id", [1, 2])
def test_checkout_without_stripe_is_a_documented_503(seeded, client, api_id):
    auth = SIGN_IN[api_id](client)
    schema = schemathesis.openapi.from_wsgi(f"/rcms-api/{api_id}/openapi.json", application)
    operation = schema[f"/rcms-api/{api_id}/stripe/checkout"]["POST"]
    case = operation.Case(body={}, media_type="application/json")

    response = case.call(headers=auth["headers"], cookies=auth["cookies"])

    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "service_unavailable"
    case.validate_response(response, checks=[response_schema_conformance])


@pytest.mark.parametrize("api_id", [1, 2])
def test_every_post_documents_the_json_body_the_cookie_rule_requires(seeded, client, api_id):
    """A client built from the document must be able to call each POST operation.

    On cookie APIs every POST must be ``application/json`` (the CSRF rule), so an
    operation documented without a request body cannot be called as documented.
    """
    document = client.get(f"/rcms-api/{api_id}/openapi.json").json()
    missing = [
        path for path, item in document["paths"].items()
        if "post" in item and "application/json" not in
        item["post"].get("requestBody", {}).get("content", {})
    ]
    assert missing == []


# --- The webhook: random bodies and headers ---------------------------------------------

SECRET = "whsec_fuzz_secret"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
events_ish = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=12), st.integers(), st.none()),
        "type": st.sampled_from(["customer.subscription.created",
                                 "customer.subscription.updated",
                                 "customer.subscription.deleted", "invoice.paid", ""]),
        "created": st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
        "livemode": json_values,
        "data": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    events_ish.map(lambda v: json.dumps(v).encode()),
)
signature_headers = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.builds(lambda t, sig: f"t={t},v1={sig}", st.integers(), st.text("0123456789abcdef",
                                                                        max_size=64)),
)
content_types = st.sampled_from(["application/json", "text/plain", "", "application/x-www-"
                                 "form-urlencoded", "multipart/form-data; boundary=x"])


def state() -> tuple:
    return (
        WebhookEvent.objects.count(),
        SubscriptionState.objects.count(),
        sorted(Member.objects.values_list("email", "stripe_customer_id",
                                          "stripe_subscription_id")),
        sorted(Membership.objects.values_list("member_id", "group_id", "source")),
    )


@pytest.fixture
def webhook_target(db, member):
    config = StripeSettings.load()
    config.enabled, config.secret_key, config.webhook_secret = True, "sk_test_fuzz", SECRET
    config.save()
    gold = MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    member.stripe_customer_id = "cus_unit1"
    member.save()
    Membership.objects.create(member=member, group=gold, source="stripe",
                              stripe_subscription_id="sub_unit1")
    return member


def test_random_webhook_requests_never_5xx_and_change_nothing_unsigned(client, webhook_target):
    before = state()

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=bodies, header=signature_headers, content_type=content_types,
           method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]))
    def attack(body, header, content_type, method):
        extra = {"HTTP_STRIPE_SIGNATURE": header} if header is not None else {}
        response = client.generic(method, "/direct/stripe/webhook/", body,
                                  content_type=content_type, **extra)
        assert response.status_code < 500, response.content
        assert response["Content-Type"].startswith("application/json")
        assert state() == before

    attack()


def test_random_signed_bodies_never_5xx(client, webhook_target):
    """Signed garbage gets past the signature, so only the parser stands between it and a 500."""

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=bodies)
    def signed(body):
        response = client.generic("POST", "/direct/stripe/webhook/", body,
                                  content_type="application/json",
                                  HTTP_STRIPE_SIGNATURE=signature_header(body, SECRET))
        assert response.status_code in (200, 400), response.content

    signed()
    # A real event still goes through afterwards.
    event = make_event(make_subscription(), type="customer.subscription.updated")
    body = json.dumps(event).encode()
    response = client.generic("POST", "/direct/stripe/webhook/", body,
                              content_type="application/json",
                              HTTP_STRIPE_SIGNATURE=signature_header(body, SECRET))
    assert response.json()["status"] == "processed"
