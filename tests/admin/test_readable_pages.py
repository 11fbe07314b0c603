"""Pages people read: one date format in the site's time zone, subscription state in words,
messages that keep identifiers as they are."""

import datetime as dt
import re

import pytest

from payments.models import SubscriptionState, WebhookEvent
from tests.fixtures.billing import make_event, make_subscription

MOMENT = dt.datetime(2026, 12, 28, 7, 11, tzinfo=dt.UTC)
UNIX = int(MOMENT.timestamp())


@pytest.fixture
def state(member):
    return SubscriptionState.objects.create(
        subscription_id="sub_Read1", customer_id="cus_Read1", member=member, status="active",
        price_ids=["price_gold", "price_extra"], current_period_end=MOMENT,
        last_event_created=UNIX, last_event_id="evt_Last1", fetched_at=0,
    )


@pytest.fixture
def event(member):
    payload = make_event(make_subscription("sub_Read1"), event_id="evt_4CxRmRead")
    return WebhookEvent.objects.create(
        event_id=payload["id"], type=payload["type"], created=MOMENT,
        livemode=False, payload=payload, status="failed", member=member,
        error="No member for customer", received_at=MOMENT,
    )


def readonly(html: str, field: str) -> str:
    block = re.search(rf'field-{field}\b.*?<div class="readonly">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", block.group(1)).strip()


def label(html: str, field: str) -> str:
    return re.search(rf'field-{field}\b.*?<label>(.*?):?</label>', html, re.S).group(1)


def test_subscription_state_reads_as_words(staff_client, state):
    html = staff_client.get(
        f"/admin/payments/subscriptionstate/{state.pk}/change/"
    ).content.decode()

    assert label(html, "subscription") == "Subscription ID"
    assert label(html, "customer") == "Customer ID"
    assert readonly(html, "prices") == "price_gold, price_extra"
    assert readonly(html, "current_period_end") == "2026-12-28 07:11 UTC"
    assert readonly(html, "last_event") == "evt_Last1, created at Stripe 2026-12-28 07:11 UTC"
    assert readonly(html, "fetched") == "Never"
    assert label(html, "fetched") == "Last fetched from Stripe"
    assert str(UNIX) not in html
    assert "Fetched at" not in html and '["price_gold"' not in html
    assert "Subscription id" not in html


def test_subscription_state_fetched_moment_in_words(staff_client, state):
    state.fetched_at = UNIX
    state.save()

    html = staff_client.get(
        f"/admin/payments/subscriptionstate/{state.pk}/change/"
    ).content.decode()

    assert readonly(html, "fetched") == "2026-12-28 07:11 UTC"


def test_subscription_state_list_shows_prices_as_text(staff_client, state):
    html = staff_client.get("/admin/payments/subscriptionstate/").content.decode()

    assert "price_gold, price_extra" in html
    assert "[&quot;price_gold" not in html and '["price_gold"' not in html
    assert re.search(r">\s*Subscription ID\s*<", html)


def test_one_date_format_on_every_page(staff_client, event, state):
    pages = [
        "/admin/payments/webhookevent/",
        f"/admin/payments/webhookevent/{event.pk}/change/",
        "/admin/payments/subscriptionstate/",
    ]
    for url in pages:
        html = staff_client.get(url).content.decode()
        assert "2026-12-28 07:11 UTC" in html, url
        assert "Dec. 28, 2026" not in html and "a.m." not in html, url


def test_dates_follow_the_sites_time_zone(staff_client, settings, event):
    settings.TIME_ZONE = "Asia/Tokyo"

    html = staff_client.get(f"/admin/payments/webhookevent/{event.pk}/change/").content.decode()

    assert "2026-12-28 16:11 JST" in html


def test_action_messages_keep_identifiers_as_they_are(staff_client, event):
    response = staff_client.post(
        "/admin/payments/webhookevent/",
        {"action": "reprocess", "_selected_action": [event.pk]},
        follow=True,
    )

    html = response.content.decode()
    message = re.search(r'<ul class="messagelist">\s*<li[^>]*>([^<]+)', html).group(1)
    assert message.startswith("evt_4CxRmRead"), message
    assert "Evt_4CxRmRead" not in html
