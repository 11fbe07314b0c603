"""The webhook event log: read-only list and detail, and the Reprocess action."""

import datetime as dt

import pytest
from django.utils import timezone

from members.models import Member, MemberGroup, Membership
from payments.models import StripeSettings, SubscriptionState, WebhookEvent
from tests.fixtures.billing import make_event, make_subscription, post_event, refuse_state_sql

LIST_URL = "/admin/payments/webhookevent/"


def store_event(payload, *, status="failed", member=None, error=""):
    return WebhookEvent.objects.create(
        event_id=payload["id"],
        type=payload["type"],
        created=dt.datetime.fromtimestamp(payload["created"], tz=dt.UTC),
        livemode=payload["livemode"],
        payload=payload,
        status=status,
        member=member,
        error=error,
    )


@pytest.fixture
def test_mode_keys(db):
    config = StripeSettings.load()
    config.enabled = True
    config.publishable_key = "pk_test_unit"
    config.secret_key = "sk_test_unit"
    config.webhook_secret = "whsec_unit"
    config.save()
    return config


def messages_of(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_list_shows_columns_and_filters(staff_client, member):
    store_event(make_event(make_subscription("sub_A"), event_id="evt_listed1"),
                status="processed", member=member)
    store_event(make_event(make_subscription("sub_B"), event_id="evt_listed2",
                           type="customer.subscription.deleted"), status="ignored")

    html = staff_client.get(LIST_URL).content.decode()
    processed = staff_client.get(LIST_URL, {"status__exact": "processed"}).content.decode()
    deleted = staff_client.get(
        LIST_URL, {"type__exact": "customer.subscription.deleted"}
    ).content.decode()
    searched = staff_client.get(LIST_URL, {"q": "evt_listed2"}).content.decode()

    assert "evt_listed1" in html and "evt_listed2" in html
    assert "customer.subscription.updated" in html
    assert "member@example.com" in html
    assert "Processed" in html and "Ignored" in html
    assert "evt_listed1" in processed and "evt_listed2" not in processed
    assert "evt_listed2" in deleted and "evt_listed1" not in deleted
    assert "evt_listed2" in searched and "evt_listed1" not in searched


def test_detail_is_read_only_with_pretty_escaped_payload(staff_client):
    subscription = make_subscription("sub_P")
    subscription["metadata"] = {"note": "<script>alert(1)</script>"}
    event = store_event(make_event(subscription, event_id="evt_detail1"))

    response = staff_client.get(f"{LIST_URL}{event.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<pre" in html
    assert '\n  &quot;data&quot;: {\n    &quot;object&quot;: {' in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'name="_save"' not in html
    assert 'name="event_id"' not in html


def test_no_add_change_or_delete(staff_client):
    event = store_event(make_event(make_subscription("sub_X"), event_id="evt_locked1"))

    assert staff_client.get(f"{LIST_URL}add/").status_code == 403
    assert staff_client.get(f"{LIST_URL}{event.pk}/delete/").status_code == 403
    response = staff_client.post(f"{LIST_URL}{event.pk}/change/", {"status": "processed"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.status == "failed"


def test_reprocess_applies_a_failed_event_and_reports_its_status(staff_client, test_mode_keys):
    gold = MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    payer = Member.objects.create_user("payer@example.com", "payer-pass-123",
                                       stripe_customer_id="cus_unit1")
    event = store_event(make_event(make_subscription("sub_unit1")), error="Boom")

    response = staff_client.post(
        LIST_URL, {"action": "reprocess", "_selected_action": [event.pk]}, follow=True
    )

    assert response.status_code == 200
    assert ("success", f"{event.event_id}: Processed") in messages_of(response)
    event.refresh_from_db()
    assert event.status == "processed"
    assert event.attempts == 2
    assert Membership.objects.filter(member=payer, group=gold, source="stripe").exists()
    assert SubscriptionState.objects.get(subscription_id="sub_unit1").status == "active"


def test_reprocess_reports_an_ignored_event_with_its_reason(staff_client, test_mode_keys):
    event = store_event(make_event(make_subscription("sub_nobody", customer="cus_nobody")))

    response = staff_client.post(
        LIST_URL, {"action": "reprocess", "_selected_action": [event.pk]}, follow=True
    )

    [(level, text)] = messages_of(response)
    assert level == "warning"
    assert text.startswith(f"{event.event_id}: Ignored (No member has customer cus_nobody")


@pytest.mark.parametrize("stored", ["ignored", "processed"])
def test_reprocess_that_fails_now_says_so_and_keeps_the_stored_outcome(staff_client,
                                                                      stripe_settings, stored):
    """An ignored event whose member now exists, or a processed one whose groups were
    lost: applying it fails this time (the database refuses the state); the click must
    report a failure, not the old outcome as if it were this run's."""
    from django.db import connection

    MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    if stored == "processed":
        payer = Member.objects.create_user("payer@example.com", "payer-pass-123",
                                           stripe_customer_id="cus_unit1")
    event = make_event(make_subscription("sub_unit1"), type="customer.subscription.created")
    assert post_event(staff_client, event).json()["status"] == stored
    if stored == "ignored":  # no member had the customer; now one has
        payer = Member.objects.create_user("payer@example.com", "payer-pass-123",
                                           stripe_customer_id="cus_unit1")
    SubscriptionState.objects.all().delete()
    Membership.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(refuse_state_sql("sub_unit1"))
    row = WebhookEvent.objects.get(event_id=event["id"])

    response = staff_client.post(LIST_URL, {"action": "reprocess",
                                            "_selected_action": [row.pk]}, follow=True)

    assert not Membership.objects.filter(member=payer).exists()
    [(level, text)] = messages_of(response)
    assert level == "error", text
    assert text.startswith(f"{event['id']}: reprocessing failed (")
    assert text.endswith(f"the stored outcome stays {stored.capitalize()}.")
    assert WebhookEvent.objects.get(pk=row.pk).status == stored


def test_subscription_state_list_is_read_only(staff_client, member):
    state = SubscriptionState.objects.create(
        subscription_id="sub_state1", customer_id="cus_state1", member=member,
        status="active", price_ids=["price_gold"], current_period_end=timezone.now(),
    )
    states_url = "/admin/payments/subscriptionstate/"

    html = staff_client.get(states_url).content.decode()
    detail = staff_client.get(f"{states_url}{state.pk}/change/").content.decode()

    assert "sub_state1" in html and "cus_state1" in html and "active" in html
    assert staff_client.get(f"{states_url}add/").status_code == 403
    # Stripe's webhooks own these rows: the superuser can read one, not save or delete it.
    assert "sub_state1" in detail
    assert 'name="_save"' not in detail and 'name="status"' not in detail
    assert f'href="{states_url}{state.pk}/delete/"' not in detail
    response = staff_client.post(f"{states_url}{state.pk}/change/",
                                 {"status": "canceled", "deleted": "on"})
    assert response.status_code == 403
    assert staff_client.get(f"{states_url}{state.pk}/delete/").status_code == 403
    assert staff_client.post(f"{states_url}{state.pk}/delete/",
                             {"post": "yes"}).status_code == 403
    # Nor can the list's actions delete it.
    assert 'value="delete_selected"' not in html
    staff_client.post(states_url, {"action": "delete_selected", "_selected_action": [state.pk],
                                   "post": "yes"})
    state.refresh_from_db()
    assert (state.status, state.deleted) == ("active", False)
