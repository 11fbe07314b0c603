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
from hypothesis import HealthCheck, given, note, settings
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


def fuzz_operation(operation, api_id: int, client, auth: dict, deadline: float, *,
                   stripe_off: bool = True) -> list[int]:
    """Up to MAX_EXAMPLES generated cases for one operation; returns their status codes."""
    ends_session = operation.path.rstrip("/").rsplit("/", 1)[-1] in ENDS_THE_SESSION
    # With Stripe off, the payment operations answer 503 by design (checked below);
    # with Stripe on, a 503 is a failure like any other 5xx.
    may_be_off = stripe_off and "/stripe/" in operation.path
    statuses: list[int] = []

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def check(case):
        if time.monotonic() > deadline:
            return
        response = case.call(headers=dict(auth["headers"]), cookies=dict(auth["cookies"]))
        statuses.append(response.status_code)
        if may_be_off and response.status_code == 503:
            assert response.json()["errors"][0]["code"] == "service_unavailable"
            case.validate_response(response, checks=[response_schema_conformance])
        else:
            case.validate_response(response, checks=CHECKS)
        if ends_session:
            auth.update(SIGN_IN[api_id](client))

    check()
    return statuses


def api_operations(api_id: int) -> list:
    schema = schemathesis.openapi.from_wsgi(f"/rcms-api/{api_id}/openapi.json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operations"
    return operations


def fuzz_api(api_id: int, client) -> dict[str, int]:
    """Run every operation of one API; returns how many cases each operation ran."""
    auth = SIGN_IN[api_id](client)
    deadline = time.monotonic() + 60  # a time budget per API on top of max_examples
    return {op.label: len(fuzz_operation(op, api_id, client, auth, deadline))
            for op in api_operations(api_id)}


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


# --- The webhook: signed events with one extreme or wrongly shaped field -------------------
#
# Each generated event is the member's own subscription moving from Gold to Silver, with
# at least one field broken the way no Stripe event ever is. Signed with the right secret,
# it passes verification, so only the parser and the sync stand between it and a 500 or a
# half-applied change. Every class of breakage is its own test, so each reports its own
# smallest failing input.

BEYOND_YEAR_9999 = 253402300800
FUZZ_EXAMPLES = 40

long_texts = st.text(min_size=256, max_size=400)  # longer than any column holding them
long_but_storable = st.text(min_size=200, max_size=255)
not_strings = st.one_of(st.integers(), st.lists(st.text(max_size=5), max_size=3),
                        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                        st.booleans(), st.none())
wrong_shapes = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=20),
                         st.lists(st.integers(), max_size=3), st.booleans(),
                         st.floats(allow_nan=False))

BREAKAGES: dict[str, st.SearchStrategy] = {
    # (path into the event, value): the field replaced.
    "created": st.tuples(st.just(("created",)), st.one_of(
        st.integers(min_value=BEYOND_YEAR_9999, max_value=2**70),
        st.integers(min_value=-(2**70), max_value=-1),
        st.sampled_from([2**63, -(2**63) - 1, 10**30]),
        st.floats(), st.booleans(), st.just(1.7e9),
    )),
    "id": st.tuples(st.just(("id",)), st.one_of(long_texts, not_strings, st.just(""))),
    "type": st.tuples(st.just(("type",)), st.one_of(long_texts, not_strings, st.just(""))),
    "customer": st.tuples(st.just(("data", "object", "customer")), st.one_of(
        st.integers(), st.lists(st.text(max_size=8), min_size=1, max_size=3),
        st.builds(lambda v: {"id": v}, st.integers() | st.lists(st.integers(), max_size=2)),
    )),
    "items": st.tuples(st.just(("data", "object", "items")), st.one_of(
        wrong_shapes,
        st.builds(lambda data: {"object": "list", "data": data}, st.one_of(
            wrong_shapes, st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
            st.lists(wrong_shapes | st.none(), min_size=1, max_size=3),
        )),
    )),
    "price": st.tuples(st.just(("data", "object", "items", "data", 0, "price")), st.one_of(
        st.integers(), st.lists(st.text(max_size=8), max_size=3), st.booleans(),
        st.just({"object": "price"}),
        st.builds(lambda v: {"id": v, "object": "price"},
                  st.integers() | st.lists(st.text(max_size=5), max_size=2) | long_texts),
    )),
    "period_end": st.tuples(st.just(("data", "object", "items", "data", 0,
                                     "current_period_end")), st.one_of(
        st.integers(min_value=BEYOND_YEAR_9999, max_value=2**70),
        st.integers(min_value=-(2**70), max_value=-1),
        st.text(min_size=1, max_size=10).filter(lambda s: not s.strip().isdigit()),
        st.lists(st.integers(), max_size=2), st.floats(allow_nan=True),
    )),
    "status": st.tuples(st.just(("data", "object", "status")), st.one_of(
        st.integers(), st.lists(st.text(max_size=8), min_size=1, max_size=2),
        st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=2),
    )),
}


def gold_to_silver_event(event_id: str, event_type: str) -> dict:
    subscription = make_subscription("sub_unit1", customer="cus_unit1",
                                     prices=["price_silver"])
    return make_event(subscription, type=event_type, event_id=event_id)


def replace(event: dict, path: tuple, value) -> dict:
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


def billing_state() -> tuple:
    return (
        *state(),
        sorted(SubscriptionState.objects.values_list("subscription_id", "status", "deleted")),
    )


@pytest.fixture
def silver_group(webhook_target):
    return MemberGroup.objects.create(name="Silver", stripe_price_id="price_silver")


def test_the_unbroken_event_would_move_the_member_to_silver(client, webhook_target,
                                                            silver_group):
    """The control: without a breakage the same event is applied, so a change would show."""
    body = json.dumps(gold_to_silver_event("evt_control", "customer.subscription.updated"))
    response = client.generic("POST", "/direct/stripe/webhook/", body.encode(),
                              content_type="application/json",
                              HTTP_STRIPE_SIGNATURE=signature_header(body.encode(), SECRET))
    assert response.status_code == 200
    assert sorted(Membership.objects.values_list("group__name", flat=True)) == ["Silver"]


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_signed_events_with_an_extreme_field_are_refused_without_a_trace(
        client, webhook_target, silver_group, breakage):
    from django.db import transaction

    client.raise_request_exception = False  # a crash is a 500 to report, with its input
    before = billing_state()
    noise_ids = st.one_of(st.just("evt_extreme"), long_but_storable)

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(broken=BREAKAGES[breakage], event_id=noise_ids,
           event_type=st.sampled_from(["customer.subscription.created",
                                       "customer.subscription.updated",
                                       "customer.subscription.deleted"]))
    def extreme(broken, event_id, event_type):
        path, value = broken
        event = replace(gold_to_silver_event(event_id, event_type), path, value)
        body = json.dumps(event).encode()
        note(f"{breakage} = {value!r:.300}; event id {event_id!r:.60}; type {event_type}")
        # Each example rolls back, so one bad example cannot make the next one fail too.
        with transaction.atomic():
            response = client.generic("POST", "/direct/stripe/webhook/", body,
                                      content_type="application/json",
                                      HTTP_STRIPE_SIGNATURE=signature_header(body, SECRET))
            assert response.status_code < 500, (response.status_code, response.content)
            assert billing_state() == before, "a malformed event was stored or applied"
            transaction.set_rollback(True)

    extreme()
