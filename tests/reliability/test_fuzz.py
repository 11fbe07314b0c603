"""Generated requests against every operation of the seeded APIs, and random webhooks.

schemathesis reads each seeded API's own ``/rcms-api/{id}/openapi.json`` and runs all
its phases (examples, coverage, fuzzing; positive and negative data) with every check
against the WSGI app in-process, signed in as the demo member and signed out. A
schema-valid request the server refuses, or an answer the document does not describe,
fails. Stripe is not configured, so payment operations answer the documented 503.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.management import call_command
from django.test import Client
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.pytest.lazy import get_all_tests

from kuroco_billing.rcms_api.models import Api, Endpoint
from kuroco_billing.wsgi import application
from members.models import Member, MemberGroup, Membership
from payments.models import StripeSettings, SubscriptionState, WebhookEvent
from tests.fixtures.billing import make_event, make_subscription, signature_header

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_EMAIL = "member@example.com"
DEMO_PASSWORD = "member-pass-123"
ALLOWED_ORIGIN = "http://127.0.0.1:8000"  # one of the origins seed_demo allows
SEEDED_APIS = {1: Api.Security.COOKIE, 2: Api.Security.DYNAMIC_TOKEN}
# Fuzzing phase only; the examples and coverage phases run in full whatever this says.
FUZZ_SETTINGS = settings(
    max_examples=8, deadline=None, database=None, derandomize=True,
    suppress_health_check=list(HealthCheck),
)
PAYMENTS_TAG = "Payments / Stripe v1"
# Operations that end the credentials they are called with.
ENDS_THE_SESSION = {"logout"}


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


def operation_name(operation) -> str:
    """The catalogue name of a documented operation (its operationId is ``<name>_<pk>``)."""
    return operation.definition.raw["operationId"].rsplit("_", 1)[0]


def load_schema(api_id: int, *, signed_in: bool):
    """The API's own document, with the demo member's credentials on every case if signed in.

    Each case that ends the session (logout) signs in anew on its own client, and
    fuzz() runs those operations last: they never end the sign-in the others use.
    """
    schema = schemathesis.openapi.from_wsgi(f"/rcms-api/{api_id}/openapi.json", application)
    if not signed_in:
        return schema
    credentials = SIGN_IN[api_id](Client())

    @schema.auth(refresh_interval=None)
    class DemoMember:
        def get(self, case, context):
            if operation_name(case.operation) in ENDS_THE_SESSION:
                return SIGN_IN[api_id](Client())
            return credentials

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), **data["headers"]}
            case.cookies = {**(case.cookies or {}), **data["cookies"]}

    return schema


def validate(case, response, *, stripe_off: bool) -> None:
    """Every check; with Stripe off a payment operation's documented 503 is no server error."""
    excluded = []
    if stripe_off and response.status_code == 503 and PAYMENTS_TAG in (case.operation.tags or []):
        assert response.json()["errors"][0]["code"] == "service_unavailable", response.text
        excluded = [not_a_server_error]
    case.validate_response(response, excluded_checks=excluded)


def fuzz(schema, *, stripe_off: bool) -> dict[str, list[int]]:
    """Every phase of schemathesis on each operation the document lists.

    Returns each operation's answered statuses; fails with every operation's failure.
    """
    ran: dict[str, list[int]] = {}
    failures: list[str] = []

    def check(case):
        response = case.call()
        ran[case.operation.label].append(response.status_code)
        validate(case, response, stripe_off=stripe_off)

    tests = [result.ok() for result in get_all_tests(
        schema=schema, test_func=check, settings=FUZZ_SETTINGS, given_kwargs={})]
    # Signing out may end every sign-in of the member on the API (tokens): last, then.
    tests.sort(key=lambda item: operation_name(item[0]) in ENDS_THE_SESSION)
    for operation, test in tests:
        ran[operation.label] = []
        try:
            test()
        except BaseException as exc:  # schemathesis reports a group of failures
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    return ran


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "signed-out"])
@pytest.mark.parametrize("api_id", SEEDED_APIS)
def test_every_operation_accepts_what_its_document_allows_and_answers_as_documented(
        seeded, api_id, signed_in):
    schema = load_schema(api_id, signed_in=signed_in)
    ran = fuzz(schema, stripe_off=True)

    assert any("/stripe/checkout" in label for label in ran), ran
    assert all(ran.values()), ran
    for label in members_only(schema):
        assert reached_as_member(ran[label]) == signed_in, (label, ran[label])


def members_only(schema) -> list[str]:
    return [result.ok().label for result in schema.get_all_operations()
            if result.ok().definition.raw["security"]]


# The unsupported-method probes' answers: they say nothing about who is signed in.
PROBE_STATUSES = {204, 405}


def reached_as_member(statuses: list[int]) -> bool:
    """Whether some case got past the sign-in check (401), and the cookie rule before it (403)."""
    return bool(set(statuses) - PROBE_STATUSES - {401, 403})


@pytest.mark.parametrize("api_id", SEEDED_APIS)
def test_the_fuzzed_documents_list_every_live_endpoint(seeded, client, api_id):
    """The runs above cover whatever the document lists, so it must list every endpoint."""
    schema = schemathesis.openapi.from_wsgi(f"/rcms-api/{api_id}/openapi.json", application)
    documented = {operation_name(result.ok()) for result in schema.get_all_operations()}
    live = set(Endpoint.objects.filter(api_id=api_id, enabled=True)
               .values_list("operation", flat=True))

    assert Api.objects.get(pk=api_id).security == SEEDED_APIS[api_id]
    assert documented == live
    assert {"login_challenge", "profile", "checkout", "cancel_order"} <= documented


@pytest.mark.parametrize("api_id", SEEDED_APIS)
def test_checkout_without_stripe_is_a_documented_503(seeded, client, api_id):
    auth = SIGN_IN[api_id](client)
    schema = schemathesis.openapi.from_wsgi(f"/rcms-api/{api_id}/openapi.json", application)
    operation = schema[f"/rcms-api/{api_id}/stripe/checkout"]["POST"]
    case = operation.Case(body={}, media_type="application/json")

    response = case.call(headers=auth["headers"], cookies=auth["cookies"])

    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "service_unavailable"
    case.validate_response(response, excluded_checks=[not_a_server_error])


@pytest.mark.parametrize("api_id", SEEDED_APIS)
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
