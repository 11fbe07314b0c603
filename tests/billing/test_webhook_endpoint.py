"""The webhook endpoint: what it refuses (storing nothing) and what it stores."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from members.models import Member, Membership
from payments.models import SubscriptionState, WebhookEvent
from tests.fixtures.billing import (
    UNIT_WEBHOOK_SECRET,
    WEBHOOK_PATH,
    make_event,
    make_subscription,
    post_event,
    signature_header,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(member):
    member.stripe_customer_id = "cus_unit1"
    member.save()
    return member


def error_of(response, status: int, code: str) -> str:
    """The message of a webhook error answer, after checking it is the API's failure envelope."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"errors", "x-rcms-request-id"}
    assert body["x-rcms-request-id"] == response["x-rcms-request-id"]
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert set(error) == {"code", "message"}
    assert error["code"] == code
    return error["message"]


def assert_nothing_changed(member: Member) -> None:
    assert WebhookEvent.objects.count() == 0
    assert SubscriptionState.objects.count() == 0
    member.refresh_from_db()
    assert member.stripe_subscription_id is None
    assert not member.memberships.exists()


def test_a_valid_event_is_stored_and_applied(client, stripe_settings, customer, gold):
    event = make_event(make_subscription(), type="customer.subscription.created")
    response = post_event(client, event)
    assert response.status_code == 200
    assert response.json() == {"received": True, "status": "processed"}
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "processed"
    assert stored.type == "customer.subscription.created"
    assert stored.member == customer
    assert stored.payload["id"] == event["id"]
    assert stored.livemode is False
    assert int(stored.created.timestamp()) == event["created"]
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_unit1"
    assert list(customer.member_groups.all()) == [gold]


def test_each_delivery_logs_one_structured_line(client, stripe_settings, customer, gold, caplog):
    event = make_event(make_subscription(), type="customer.subscription.created")
    with caplog.at_level("INFO", logger="payments.webhooks"):
        post_event(client, event)
    lines = [r.getMessage() for r in caplog.records
             if r.name == "payments.webhooks" and "outcome=" in r.getMessage()]
    assert len(lines) == 1
    line = lines[0]
    assert f"event={event['id']}" in line
    assert "type=customer.subscription.created" in line
    assert f"member={customer.pk}" in line
    assert "outcome=processed" in line
    assert "duration_ms=" in line
    assert UNIT_WEBHOOK_SECRET not in line


def test_no_login_and_no_csrf_token_needed(stripe_settings, customer, gold):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post_event(strict, make_event(make_subscription()))
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_only_post(client, stripe_settings, method):
    response = getattr(client, method)(WEBHOOK_PATH)
    assert error_of(response, 405, "method_not_allowed") == "Method not allowed; Stripe sends POST."
    assert response["Allow"] == "POST"


def test_missing_signature_header(client, stripe_settings, customer, gold):
    response = post_event(client, make_event(make_subscription()), header="")
    assert error_of(response, 400, "bad_request") == "Missing Stripe-Signature header."
    assert_nothing_changed(customer)


@pytest.mark.parametrize("header", ["garbage", "t=abc,v1=00", "t=123", "v1=deadbeef"])
def test_malformed_signature_header(client, stripe_settings, customer, gold, header):
    response = post_event(client, make_event(make_subscription()), header=header)
    assert "Malformed Stripe-Signature" in error_of(response, 400, "bad_request")
    assert_nothing_changed(customer)


def test_bad_signature(client, stripe_settings, customer, gold):
    response = post_event(client, make_event(make_subscription()), "whsec_somebody_else")
    assert error_of(response, 400, "bad_request") == (
        "No signature matches a configured webhook secret.")
    assert_nothing_changed(customer)


def test_body_changed_after_signing(client, stripe_settings, customer, gold):
    body = json.dumps(make_event(make_subscription(status="canceled"))).encode()
    header = signature_header(body, UNIT_WEBHOOK_SECRET)
    tampered = body.replace(b'"canceled"', b'"active"')
    response = post_event(client, tampered, header=header)
    assert response.status_code == 400
    assert_nothing_changed(customer)


def test_timestamp_too_old(client, stripe_settings, customer, gold):
    response = post_event(client, make_event(make_subscription()),
                          timestamp=int(time.time()) - 301)
    assert error_of(response, 400, "bad_request") == "Signature timestamp is too old."
    assert_nothing_changed(customer)


def test_timestamp_in_the_future(client, stripe_settings, customer, gold):
    response = post_event(client, make_event(make_subscription()),
                          timestamp=int(time.time()) + 305)  # margin: the clock moves on
    assert error_of(response, 400, "bad_request") == "Signature timestamp is in the future."
    assert_nothing_changed(customer)


def test_timestamp_within_tolerance_both_ways(client, stripe_settings, customer, gold):
    for offset in (-250, 250):
        event = make_event(make_subscription(), created=int(time.time()) + offset)
        response = post_event(client, event, timestamp=int(time.time()) + offset)
        assert response.status_code == 200, response.content
    assert WebhookEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "Body is not valid JSON."),
        (b"\xff\xfe", "Body is not valid JSON."),
        (b"[1, 2]", "Body is not a JSON object."),
        (b'{"type": "customer.subscription.updated", "created": 1}', "Event has no id."),
        (b'{"id": "evt_1", "created": 1}', "Event has no type."),
        (b'{"id": "evt_1", "type": "customer.subscription.updated"}',
         "Event has no created timestamp."),
        (b'{"id": "evt_1", "type": "customer.subscription.updated", "created": 1, "data": {}}',
         "Event has no data.object subscription (an id sub_…)."),
    ],
)
def test_malformed_body(client, stripe_settings, customer, body, error):
    response = post_event(client, body)
    assert error_of(response, 400, "bad_request") == error
    assert_nothing_changed(customer)


def _bad(path: tuple, value) -> dict:
    """A subscription event with one field at ``path`` set to ``value`` (signed as is)."""
    event = make_event(make_subscription())
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "error"),
    [
        # Python cannot turn it into a datetime: was an HTML 500.
        (_bad(("created",), 10**12), "Event created timestamp is out of range."),
        (_bad(("created",), 0), "Event created timestamp is out of range."),
        (_bad(("created",), -5), "Event created timestamp is out of range."),
        # Longer than the columns: PostgreSQL's DataError was answered as a false 503.
        (_bad(("id",), "evt_" + "x" * 252), "Event id is longer than 255 characters."),
        (_bad(("type",), "customer." + "x" * 247), "Event type is longer than 255 characters."),
        (_bad(("id",), 12345), "Event has no id."),
        # The subscription's ID: was stored failed with a 500.
        (_bad(("data", "object", "id"), "sub_" + "x" * 252),
         "Event has no data.object subscription (an id sub_…)."),
        (_bad(("data", "object", "id"), "in_123"),
         "Event has no data.object subscription (an id sub_…)."),
        # Shapes the sync cannot read: was an AttributeError stored failed.
        (_bad(("data", "object", "items"), "nope"),
         "data.object.items is not a list object with data."),
        (_bad(("data", "object", "items"), {"object": "list", "data": "nope"}),
         "data.object.items is not a list object with data."),
        (_bad(("data", "object", "items", "data"), ["nope"]),
         "data.object.items.data holds something not an item."),
        (_bad(("data", "object", "items", "data", 0, "price"), {"object": "price"}),
         "A subscription item has no price id."),
        (_bad(("data", "object", "items", "data", 0, "current_period_end"), 10**12),
         "A subscription item's current_period_end is not a time."),
        # Times the sync copies onto the subscription's state: was stored failed with a 500.
        (_bad(("data", "object", "trial_end"), 10**12), "data.object.trial_end is not a time."),
        (_bad(("data", "object", "cancel_at"), "soon"), "data.object.cancel_at is not a time."),
        (_bad(("data", "object", "created"), -1), "data.object.created is not a time."),
        # Was stored as the customer ID "5".
        (_bad(("data", "object", "customer"), 5),
         "data.object.customer is not a customer id (cus_…)."),
        (_bad(("data", "object", "customer"), {"id": 5}),
         "data.object.customer is not a customer id (cus_…)."),
        (_bad(("data", "object", "status"), ["active"]),
         "data.object.status is not a subscription status."),
        (_bad(("data", "object", "metadata"), "member 1"),
         "data.object.metadata is not an object."),
    ],
    ids=lambda value: "" if isinstance(value, dict) else None,
)
def test_signed_event_with_an_impossible_field_is_refused(client, stripe_settings, customer,
                                                          gold, event, error):
    response = post_event(client, event)
    assert error_of(response, 400, "bad_request") == error
    assert_nothing_changed(customer)


def test_customer_as_an_object_is_accepted(client, stripe_settings, customer, gold):
    event = _bad(("data", "object", "customer"), {"id": "cus_unit1", "object": "customer"})
    assert post_event(client, event).json() == {"received": True, "status": "processed"}
    customer.refresh_from_db()
    assert customer.stripe_subscription_id == "sub_unit1"


@pytest.mark.parametrize(
    ("send", "status", "reason"),
    [
        (lambda c: post_event(c, make_event(make_subscription()), "whsec_somebody_else"),
         400, "No signature matches a configured webhook secret."),
        (lambda c: c.get(WEBHOOK_PATH, HTTP_STRIPE_SIGNATURE="t=1,v1=abc"),
         405, "Method not allowed; Stripe sends POST."),
        (lambda c: post_event(c, b'{"padding": "' + b"p" * 3000 + b'"}'),
         413, "Body larger than 2048 bytes."),
    ],
    ids=["bad-signature", "get", "too-large"],
)
@override_settings(STRIPE_WEBHOOK_MAX_BODY_BYTES=2048)
def test_a_refused_delivery_logs_one_warning_line(client, stripe_settings, customer, gold,
                                                  caplog, send, status, reason):
    with caplog.at_level("INFO", logger="payments.webhooks"):
        response = send(client)
    assert response.status_code == status
    records = [r for r in caplog.records if r.name == "payments.webhooks"]
    assert [r.levelname for r in records] == ["WARNING"]
    line = records[0].getMessage()
    assert f'webhook_refused status={status} reason="{reason}" outcome=refused' in line
    assert "duration_ms=" in line
    for leak in (UNIT_WEBHOOK_SECRET, "whsec_", "sk_test", "v1=", "t=1", "padding",
                 "sub_unit1", "cus_unit1"):
        assert leak not in line


def test_no_secret_configured(client, stripe_settings, customer, gold):
    stripe_settings.webhook_secret = ""
    stripe_settings.save()
    response = post_event(client, make_event(make_subscription()))
    assert error_of(response, 400, "bad_request") == "No webhook signing secret is configured."
    assert_nothing_changed(customer)


@override_settings(STRIPE_WEBHOOK_MAX_BODY_BYTES=2048)
def test_body_too_large(client, stripe_settings, customer, gold):
    subscription = make_subscription()
    subscription["metadata"]["padding"] = "x" * 4096
    response = post_event(client, make_event(subscription))
    assert error_of(response, 413, "payload_too_large") == "Body larger than 2048 bytes."
    assert_nothing_changed(customer)


# --- Secret rotation ------------------------------------------------------------

@pytest.fixture
def rolled(stripe_settings):
    stripe_settings.previous_webhook_secret = UNIT_WEBHOOK_SECRET
    stripe_settings.webhook_secret = "whsec_unit_new"
    stripe_settings.previous_webhook_secret_expires_at = timezone.now() + timedelta(hours=1)
    stripe_settings.save()
    return stripe_settings


def test_previous_secret_valid_until_it_expires(client, rolled, customer, gold):
    now = int(time.time())
    old_signed = make_event(make_subscription(), created=now - 2)
    assert post_event(client, old_signed, UNIT_WEBHOOK_SECRET).status_code == 200
    new_signed = make_event(make_subscription(), created=now - 1)
    assert post_event(client, new_signed, "whsec_unit_new").status_code == 200

    rolled.previous_webhook_secret_expires_at = timezone.now() - timedelta(seconds=1)
    rolled.save()
    response = post_event(client, make_event(make_subscription()), UNIT_WEBHOOK_SECRET)
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 2


def test_header_with_several_v1_values(client, rolled, customer, gold):
    # During a roll Stripe signs with both secrets; one of them matching is enough.
    event = make_event(make_subscription())
    response = post_event(client, event, "whsec_unknown", "whsec_unit_new")
    assert response.status_code == 200
    assert WebhookEvent.objects.filter(event_id=event["id"], status="processed").exists()


# --- Storage --------------------------------------------------------------------

def test_redelivery_answers_200_and_changes_nothing(client, stripe_settings, customer, gold):
    event = make_event(make_subscription())
    assert post_event(client, event).status_code == 200
    Membership.objects.filter(member=customer).delete()  # an admin's hand edit in between

    response = post_event(client, event)
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.attempts == 1
    assert not customer.memberships.exists()


def test_unhandled_type_is_stored_as_ignored(client, stripe_settings, customer):
    event = make_event({"id": "in_123", "object": "invoice"}, type="invoice.paid")
    response = post_event(client, event)
    assert response.status_code == 200
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "ignored"
    assert stored.note == "Event type invoice.paid is not handled."
    assert post_event(client, event).json()["status"] == "duplicate"


def test_livemode_mismatch_is_stored_as_ignored(client, stripe_settings, customer, gold):
    event = make_event(make_subscription(), livemode=True)
    response = post_event(client, event)
    assert response.status_code == 200
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "ignored"
    assert "live mode" in stored.note
    customer.refresh_from_db()
    assert customer.stripe_subscription_id is None


def test_unknown_customer_is_ignored_with_the_reason(client, stripe_settings, member, gold):
    event = make_event(make_subscription(customer="cus_nobody"))
    response = post_event(client, event)
    assert response.status_code == 200
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "ignored"
    assert "cus_nobody" in stored.note
    assert stored.member is None


def test_member_found_by_metadata_gets_the_customer_id(client, stripe_settings, member, gold):
    event = make_event(make_subscription(customer="cus_new", member_id=member.pk))
    assert post_event(client, event).status_code == 200
    member.refresh_from_db()
    assert member.stripe_customer_id == "cus_new"
    assert member.stripe_subscription_id == "sub_unit1"
    assert WebhookEvent.objects.get(event_id=event["id"]).member == member


def test_failure_rolls_back_answers_500_and_retry_processes_again(
    client, stripe_settings, customer, gold, other_member
):
    # Another member already holds the subscription ID (unique): applying fails.
    other_member.stripe_subscription_id = "sub_unit1"
    other_member.save()
    event = make_event(make_subscription())

    response = post_event(client, event)
    assert error_of(response, 500, "internal_server_error") == (
        "Processing failed; Stripe will retry.")
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "failed"
    assert stored.attempts == 1
    assert stored.error
    assert not customer.memberships.exists()  # the grant was rolled back
    assert not SubscriptionState.objects.filter(subscription_id="sub_unit1").exists()

    assert post_event(client, event).status_code == 500
    assert WebhookEvent.objects.get(event_id=event["id"]).attempts == 2

    other_member.stripe_subscription_id = None
    other_member.save()
    response = post_event(client, event)
    assert response.status_code == 200
    stored.refresh_from_db()
    assert (stored.status, stored.attempts, stored.error) == ("processed", 3, "")
    assert list(customer.member_groups.all()) == [gold]


def test_database_outage_answers_503(client, stripe_settings, monkeypatch):
    from django.db import OperationalError, connections

    def unavailable(*args, **kwargs):
        raise OperationalError("could not connect to server")

    # The database itself goes away (Django's connection, not our code, is replaced).
    monkeypatch.setattr(connections["default"], "cursor", unavailable)
    response = post_event(client, make_event(make_subscription()))
    assert error_of(response, 503, "service_unavailable") == "Database unavailable; retry later."
    assert response["Retry-After"] == "30"


def test_secrets_never_in_the_answer(client, stripe_settings):
    response = post_event(client, make_event(make_subscription()), "whsec_wrong")
    assert UNIT_WEBHOOK_SECRET.encode() not in response.content
    assert b"whsec_" not in response.content


def _saved_elsewhere(**values) -> None:
    """Change the settings row the way another worker or node would: no signal here."""
    from payments.models import StripeSettings

    StripeSettings.objects.filter(pk=1).update(updated_at=timezone.now(), **values)


def test_a_secret_saved_in_another_process_is_used_at_once(client, stripe_settings, customer,
                                                           gold):
    assert post_event(client, make_event(make_subscription(), created=1_700_000_000)
                      ).status_code == 200  # settings now cached in this process
    _saved_elsewhere(webhook_secret="whsec_rolled_elsewhere")

    fresh = make_event(make_subscription(), created=1_700_000_100)
    assert post_event(client, fresh, "whsec_rolled_elsewhere").status_code == 200
    assert WebhookEvent.objects.get(event_id=fresh["id"]).status == "processed"


def test_a_secret_removed_in_another_process_is_refused_at_once(client, stripe_settings,
                                                                customer, gold):
    assert post_event(client, make_event(make_subscription(), created=1_700_000_000)
                      ).status_code == 200
    _saved_elsewhere(webhook_secret="whsec_replacement")

    stale = make_event(make_subscription(), created=1_700_000_100)
    message = error_of(post_event(client, stale, UNIT_WEBHOOK_SECRET), 400, "bad_request")
    assert message == "No signature matches a configured webhook secret."
    assert not WebhookEvent.objects.filter(event_id=stale["id"]).exists()


def test_the_webhook_skips_the_middleware_it_does_not_use(client, stripe_settings, customer,
                                                          gold):
    response = post_event(client, make_event(make_subscription()))
    assert response.status_code == 200
    assert "Set-Cookie" not in response  # no session, no CSRF cookie
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


def test_a_value_the_database_refuses_is_a_400_and_stores_nothing(client, stripe_settings,
                                                                   customer, gold):
    """PostgreSQL stores no NUL character in text: refused at the door, on every database."""
    event = make_event(make_subscription())
    event["description"] = "nul \u0000 byte"
    message = error_of(post_event(client, event), 400, "bad_request")
    assert message == "The event holds a value the database cannot store."
    assert_nothing_changed(customer)


@pytest.mark.parametrize("escaped", ["\\\\u0000", "\\\\\\\\u0000", "\\\\\\u0000"])
def test_a_nul_is_told_apart_from_a_backslash_before_u0000(client, stripe_settings, customer,
                                                            gold, escaped):
    """An odd number of backslashes before u0000 is a NUL (refused); an even one is text."""
    event = make_event(make_subscription())
    body = json.dumps({**event, "description": "x"}).replace('"x"', f'"{escaped}"')
    nul = "\x00" in json.loads(body)["description"]

    response = post_event(client, body.encode())

    if nul:
        assert error_of(response, 400, "bad_request") == (
            "The event holds a value the database cannot store.")
        assert_nothing_changed(customer)
    else:
        assert response.status_code == 200
        assert WebhookEvent.objects.get(event_id=event["id"]).payload["description"] == (
            json.loads(body)["description"])


@pytest.mark.parametrize(("where", "escaped"), [
    ("id", "evt_\\ud800"), ("type", "customer.\\ud800"), ("subscription", "sub_\\udfff"),
    ("customer", "cus_\\udfff"), ("status", "\\ud800"), ("price", "price_\\ud800x"),
    ("description", "half \\udfff\\ud800 pair"),
])
def test_a_lone_surrogate_is_a_400_and_stores_nothing(client, stripe_settings, customer, gold,
                                                       caplog, where, escaped):
    """Half of a surrogate pair (a \\ud800 escape alone) decodes to a character no database
    encoding holds: refused at the door like a NUL, not a 500 that Stripe retries."""
    event = make_event(make_subscription())
    event["description"] = "x"
    marker = {"id": event["id"], "type": event["type"], "subscription": "sub_unit1",
              "customer": "cus_unit1", "status": "active", "price": "price_gold",
              "description": "x"}[where]
    body = json.dumps(event).replace(f'"{marker}"', f'"{escaped}"', 1)

    response = post_event(client, body.encode())

    assert error_of(response, 400, "bad_request") == (
        "The event holds a value the database cannot store.")
    assert_nothing_changed(customer)
    assert not WebhookEvent.objects.exists()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_surrogate_pair_is_one_character_and_is_stored(client, stripe_settings, customer,
                                                         gold):
    event = make_event(make_subscription())
    body = json.dumps({**event, "description": "x"}).replace('"x"', '"smile \\ud83d\\ude00"')

    response = post_event(client, body.encode())

    assert response.status_code == 200, response.content
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.payload["description"] == "smile \U0001f600"
    assert customer.member_groups.get() == gold


def test_cached_settings_never_outlive_the_encryption_keys(stripe_settings, settings):
    from cryptography.fernet import Fernet

    from payments.crypto import DecryptionError
    from payments.models import StripeSettings

    assert StripeSettings.load().webhook_secret == UNIT_WEBHOOK_SECRET  # now cached
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError):
        StripeSettings.load()


# --- Failures answered in the envelope, never Django's page ------------------------------

OTHER_FERNET_KEY = "Zm9yLXRlc3RzLW9ubHktbm90LXRoZS1yZWFsLWtleT0="  # 32 bytes, base64


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_undecryptable_settings_answer_503_with_one_error_line(
    client, stripe_settings, customer, gold, settings, caplog, debug
):
    settings.DEBUG = debug
    # The deployment was started with another FIELD_ENCRYPTION_KEY than the one the
    # stored secrets were encrypted with.
    settings.FIELD_ENCRYPTION_KEYS = [OTHER_FERNET_KEY]

    response = post_event(client, make_event(make_subscription()))

    assert error_of(response, 503, "service_unavailable") == (
        "The payment settings cannot be read right now. Try again later.")
    assert response["Retry-After"] == "30"
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "cannot be decrypted with FIELD_ENCRYPTION_KEY" in errors[0].getMessage()
    assert errors[0].exc_info is None
    for secret in (OTHER_FERNET_KEY, UNIT_WEBHOOK_SECRET, "sk_test_unit"):
        assert secret not in caplog.text
        assert secret not in response.content.decode()
    assert_nothing_changed(customer)


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_an_exception_deep_inside_is_a_500_in_the_envelope(
    client, stripe_settings, customer, gold, settings, monkeypatch, caplog, debug
):
    settings.DEBUG = debug
    client.raise_request_exception = False

    def broken(*args, **kwargs):
        raise RuntimeError("deep inside")

    # Django's own time zone helper, called while the event is stored, breaks.
    monkeypatch.setattr("payments.services.webhooks.timezone.now", broken)
    response = post_event(client, make_event(make_subscription()))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "internal_server_error"
    assert UNIT_WEBHOOK_SECRET not in response.content.decode()
    assert UNIT_WEBHOOK_SECRET not in caplog.text


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/direct/stripe/webhook/", 405, "method_not_allowed"),
        ("post", "/direct/stripe/nowhere/", 404, "not_found"),
        ("get", "/direct/stripe/", 404, "not_found"),
        ("post", "/direct/stripe/webhook", 404, "not_found"),  # no slash: no redirect page
    ],
)
def test_other_failures_on_the_webhook_path_are_json(client, stripe_settings, settings,
                                                     debug, method, path, status, code):
    settings.DEBUG = debug
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == code
    assert b"<html" not in response.content.lower()


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_body_too_large_is_json_with_debug_on_and_off(client, stripe_settings, settings, debug):
    settings.DEBUG = debug
    settings.STRIPE_WEBHOOK_MAX_BODY_BYTES = 1024
    response = post_event(client, b"x" * 5000)
    assert error_of(response, 413, "payload_too_large") == "Body larger than 1024 bytes."


def test_a_value_the_database_refuses_is_answered_400(client, stripe_settings, customer, gold,
                                                      caplog):
    """PostgreSQL stores no NUL character: a DataError, the event's fault, not the site's.

    It was answered 500 (stored as failed, and Stripe retried it for days).
    """
    event = make_event(make_subscription())
    event["data"]["object"]["metadata"] = {"note": "nul \u0000 byte"}

    response = post_event(client, event)

    assert error_of(response, 400, "bad_request") == (
        "The event holds a value the database cannot store.")
    assert_nothing_changed(customer)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
