"""Refused webhook deliveries: recorded without body or secret, counted, listed, pruned."""

import datetime
import json

import pytest
from django.utils import timezone

from payments.models import RefusedDelivery
from payments.services import refusals
from tests.fixtures.billing import (
    UNIT_WEBHOOK_SECRET,
    WEBHOOK_PATH,
    make_event,
    make_subscription,
    post_event,
)

LIST_URL = "/admin/payments/refuseddelivery/"
STALE_SECRET = "whsec_stale_secret_of_another_endpoint"
BAD_SIGNATURE = "No signature matches a configured webhook secret."


@pytest.fixture(autouse=True)
def fresh_minute_keys(monkeypatch):
    monkeypatch.setattr(refusals, "_minute_keys", refusals._MinuteKeys())
    monkeypatch.setattr(refusals, "_last_prune", None)


def signed_with_stale_secret(client, event_id="evt_stale_1", **extra):
    event = make_event(make_subscription("sub_refused"), event_id=event_id)
    return post_event(client, event, STALE_SECRET, **extra)


def test_a_bad_signature_is_recorded_with_reason_address_and_event_id(client, stripe_settings):
    response = signed_with_stale_secret(client, REMOTE_ADDR="203.0.113.7")

    assert response.status_code == 400
    [row] = RefusedDelivery.objects.all()
    assert (row.reason, row.client_address, row.event_id, row.count) == (
        BAD_SIGNATURE, "203.0.113.7", "evt_stale_1", 1)
    assert row.minute == row.first_at.replace(second=0, microsecond=0)


def test_the_address_is_the_one_the_trusted_proxy_saw(client, stripe_settings, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    signed_with_stale_secret(client, REMOTE_ADDR="10.0.0.2",
                             HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9")

    assert RefusedDelivery.objects.get().client_address == "203.0.113.9"


def test_refusals_before_the_body_is_read_are_recorded_too(client, stripe_settings):
    assert client.get(WEBHOOK_PATH).status_code == 405
    post_event(client, make_event(make_subscription("sub_x"), event_id="evt_unsigned_1"),
               header="")

    assert dict(RefusedDelivery.objects.values_list("reason", "event_id")) == {
        "Method not allowed; Stripe sends POST.": "",
        "Missing Stripe-Signature header.": "evt_unsigned_1",
    }


def test_an_accepted_delivery_is_not_recorded(client, stripe_settings):
    response = post_event(client, make_event(make_subscription("sub_ok")))

    assert response.status_code == 200
    assert not RefusedDelivery.objects.exists()


def test_refused_deliveries_show_in_the_admin_without_body_or_secret(
    staff_client, stripe_settings
):
    body_marker = "private-customer-note-7781"
    subscription = make_subscription("sub_refused")
    subscription["metadata"] = {"note": body_marker}
    event = make_event(subscription, event_id="evt_listed_1")
    response = post_event(staff_client, event, STALE_SECRET, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 400
    row = RefusedDelivery.objects.get()

    listing = staff_client.get(LIST_URL).content.decode()
    detail = staff_client.get(f"{LIST_URL}{row.pk}/change/").content.decode()

    for html in (listing, detail):
        assert BAD_SIGNATURE in html
        assert "203.0.113.7" in html
        assert "evt_listed_1" in html
        for secret in (STALE_SECRET, UNIT_WEBHOOK_SECRET, body_marker, "v1="):
            assert secret not in html
    stored = json.dumps(list(RefusedDelivery.objects.values()), default=str)
    assert body_marker not in stored and "v1=" not in stored


def test_the_admin_lists_them_under_billing_and_nothing_can_be_edited(staff_client, db):
    minute = timezone.now().replace(second=0, microsecond=0)
    row = RefusedDelivery.objects.create(
        minute=minute, reason=BAD_SIGNATURE, client_address="203.0.113.7", count=3,
        first_at=minute, last_at=minute, event_id="evt_kept_1",
    )
    change_url = f"{LIST_URL}{row.pk}/change/"
    index = staff_client.get("/admin/").content.decode()
    listing = staff_client.get(LIST_URL).content.decode()
    detail = staff_client.get(change_url).content.decode()
    # A full, valid form: were changes allowed, this would save.
    edited = {
        "minute_0": minute.date().isoformat(), "minute_1": "00:00:00",
        "reason": "Edited in the admin", "client_address": "198.51.100.99", "count": "1",
        "first_at_0": minute.date().isoformat(), "first_at_1": "00:00:00",
        "last_at_0": minute.date().isoformat(), "last_at_1": "00:00:00",
        "event_id": "evt_edited",
    }

    assert 'href="/admin/payments/refuseddelivery/"' in index
    assert staff_client.get(f"{LIST_URL}add/").status_code == 403
    # The superuser reads the row, with nothing to type into, save or delete.
    assert "evt_kept_1" in detail
    assert 'name="_save"' not in detail and 'name="reason"' not in detail
    assert f'href="{LIST_URL}{row.pk}/delete/"' not in detail
    assert staff_client.post(change_url, edited).status_code == 403
    assert staff_client.post(f"{LIST_URL}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    # Nor can the list's actions delete it.
    assert 'value="delete_selected"' not in listing
    staff_client.post(LIST_URL, {"action": "delete_selected", "_selected_action": [row.pk],
                                 "post": "yes"})
    assert list(RefusedDelivery.objects.values_list(
        "reason", "client_address", "count", "event_id")) == [
        (BAD_SIGNATURE, "203.0.113.7", 3, "evt_kept_1")]


def test_a_flood_of_500_bad_requests_adds_a_bounded_number_of_rows(client, stripe_settings):
    for n in range(250):
        signed_with_stale_secret(client, event_id=f"evt_flood_{n}", REMOTE_ADDR="203.0.113.50")
    for n in range(250):  # from as many addresses as requests
        signed_with_stale_secret(client, event_id=f"evt_spread_{n}",
                                 REMOTE_ADDR=f"198.51.{n // 250}.{n % 250}")

    rows = RefusedDelivery.objects.count()
    minutes = RefusedDelivery.objects.values("minute").distinct().count()
    assert rows <= minutes * (refusals.MAX_ROWS_PER_MINUTE + 1)
    assert rows < 120
    assert sum(RefusedDelivery.objects.values_list("count", flat=True)) == 500
    flood = RefusedDelivery.objects.filter(client_address="203.0.113.50")
    assert sum(flood.values_list("count", flat=True)) == 250
    assert flood.count() <= minutes


def test_old_counts_are_pruned(stripe_settings, monkeypatch):
    monkeypatch.setattr(refusals, "PRUNE_EVERY_SECONDS", 0)
    now = timezone.now()
    old = now - refusals.RETENTION - datetime.timedelta(minutes=5)
    refusals.record_refusal("Missing Stripe-Signature header.", "203.0.113.1", now=old)
    refusals.record_refusal("Missing Stripe-Signature header.", "203.0.113.1", now=now)

    assert RefusedDelivery.objects.count() == 1
    assert RefusedDelivery.objects.get().minute == now.replace(second=0, microsecond=0)


def test_unreadable_bodies_give_no_event_id():
    assert refusals.event_id_from(b"\xff\xfe{not json") == ""
    assert refusals.event_id_from(b'{"id": "evt_1abc", "object": "event"}') == "evt_1abc"
    assert refusals.event_id_from(b'{"id": "evt_\xff"}') == ""


def test_a_refusal_costs_less_than_a_processed_delivery(client, stripe_settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    signed_with_stale_secret(client, event_id="evt_warm_1")  # first prune, settings cached
    with CaptureQueriesContext(connection) as refused:
        signed_with_stale_secret(client, event_id="evt_counted_1")

    # The settings' version and the one upsert (the processed budget is 8).
    assert len(refused.captured_queries) <= 2, refused.captured_queries
