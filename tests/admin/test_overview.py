"""The billing overview: figures checked against a seeded set of subscriptions."""

import datetime
import re

import pytest
from django.utils import timezone

from members.models import Member, MemberGroup
from payments.models import SubscriptionState, WebhookEvent

NOW = timezone.now()


def state(sub_id, status, prices, *, deleted=False, member=None):
    return SubscriptionState(
        subscription_id=sub_id, customer_id=f"cus_{sub_id}", status=status,
        price_ids=prices, deleted=deleted, member=member,
    )


def event(event_id, type_, days_ago, status=WebhookEvent.Status.PROCESSED, error=""):
    moment = NOW - datetime.timedelta(days=days_ago)
    return WebhookEvent(
        event_id=event_id, type=type_, created=moment, payload={"id": event_id},
        status=status, error=error, received_at=moment,
    )


def figure(html: str, name: str) -> str:
    match = re.search(rf'<dd id="figure-{name}">(?:<a [^>]*>)?([^<]+)', html)
    return match.group(1).strip()


def plan_rows(html: str) -> list[tuple[str, ...]]:
    table = re.search(r'<table id="plans">.*?</table>', html, re.S).group(0)
    return [
        tuple(cell.strip() for cell in re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row))
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    ]


@pytest.fixture
def business(db):
    MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    MemberGroup.objects.create(name="Silver", stripe_price_id="price_silver")
    MemberGroup.objects.create(name="Staff only")  # no price: never a plan
    SubscriptionState.objects.bulk_create([
        state("sub_g1", "active", ["price_gold"]),
        state("sub_g2", "active", ["price_gold"]),
        state("sub_g3", "trialing", ["price_gold"]),
        state("sub_s1", "active", ["price_silver"]),
        state("sub_s2", "past_due", ["price_silver"]),
        state("sub_s3", "past_due", ["price_silver"]),
        state("sub_x1", "active", ["price_unknown"]),
        state("sub_c1", "canceled", ["price_gold"], deleted=True),
        state("sub_u1", "unpaid", ["price_gold"]),
    ])
    WebhookEvent.objects.bulk_create([
        # Started: 2 in the last 30 days, 1 earlier (within the chart's 90).
        event("evt_c1", "customer.subscription.created", 2),
        event("evt_c2", "customer.subscription.created", 10),
        event("evt_c3", "customer.subscription.created", 45),
        event("evt_c4", "customer.subscription.created", 200),  # before the chart
        # Ended: 1 in the last 30 days, 1 earlier.
        event("evt_d1", "customer.subscription.deleted", 5),
        event("evt_d2", "customer.subscription.deleted", 60),
        event("evt_u1", "customer.subscription.updated", 1),
        event("evt_f1", "customer.subscription.updated", 3, WebhookEvent.Status.FAILED,
              "No member for customer cus_9"),
        event("evt_f2", "customer.subscription.created", 40, WebhookEvent.Status.FAILED,
              "Stripe could not be reached"),
    ])


def test_overview_is_the_first_link_of_billing(staff_client):
    html = staff_client.get("/admin/").content.decode()

    billing = re.search(r'<div class="app-billing module.*?</table>', html, re.S).group(0)
    first = re.search(r'<th scope="row"[^>]*>\s*<a href="([^"]+)"', billing).group(1)
    assert first == "/admin/overview/"


def test_overview_needs_staff(client, member):
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")

    response = client.get("/admin/overview/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_overview_needs_the_right_to_read_subscriptions(client, db):
    from django.contrib.auth.models import Permission

    clerk = Member.objects.create_user("clerk@example.com", "x-pass-123", is_staff=True)
    client.force_login(clerk, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/admin/overview/").status_code == 403
    assert "/admin/overview/" not in client.get("/admin/").content.decode()

    clerk.user_permissions.add(Permission.objects.get(codename="view_subscriptionstate"))
    clerk = Member.objects.get(pk=clerk.pk)  # a fresh permission cache
    client.force_login(clerk, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/admin/overview/").status_code == 200
    assert "/admin/overview/" in client.get("/admin/").content.decode()


def test_subscribers_per_plan(staff_client, business):
    html = staff_client.get("/admin/overview/").content.decode()

    assert plan_rows(html) == [
        ("Gold", "2", "1", "3"),
        ("No member group for its price", "1", "0", "1"),
        ("Silver", "1", "0", "1"),
    ]
    assert figure(html, "subscribed") == "5"


def test_started_ended_and_past_due(staff_client, business):
    html = staff_client.get("/admin/overview/").content.decode()

    assert figure(html, "started") == "2"
    assert figure(html, "ended") == "1"
    assert figure(html, "past-due") == "2"
    assert 'href="/admin/members/member/?subscription_status=past_due"' in html


def test_scheduled_cancellations_count_live_subscriptions_only(staff_client, business):
    SubscriptionState.objects.filter(subscription_id__in=["sub_g1", "sub_s2"]).update(
        cancel_at_period_end=True)
    SubscriptionState.objects.filter(subscription_id="sub_g2").update(cancel_at=timezone.now())
    # Ended or not granting: not a scheduled cancellation any more.
    SubscriptionState.objects.filter(subscription_id__in=["sub_c1", "sub_u1"]).update(
        cancel_at_period_end=True)

    html = staff_client.get("/admin/overview/").content.decode()

    assert figure(html, "scheduled") == "3"
    assert 'href="/admin/members/member/?cancellation_scheduled=yes"' in html


def test_webhook_health(staff_client, business):
    html = staff_client.get("/admin/overview/").content.decode()

    last = NOW - datetime.timedelta(days=1)
    assert figure(html, "last-delivery") == timezone.localtime(last).strftime("%Y-%m-%d %H:%M UTC")
    assert figure(html, "failed") == "2"
    failed = re.search(r'<table id="failed-events">.*?</table>', html, re.S).group(0)
    assert "evt_f1" in failed and "No member for customer cus_9" in failed
    assert "evt_f2" in failed and "Stripe could not be reached" in failed
    assert "evt_u1" not in failed


def test_empty_business_says_so(staff_client):
    html = staff_client.get("/admin/overview/").content.decode()

    assert "No active or trialing subscriptions yet." in html
    assert figure(html, "last-delivery") == "None yet"
    assert figure(html, "failed") == "0"


def test_chart_counts_subscribers_back_from_today(staff_client, business):
    from kuroco_billing.overview import build_overview

    chart = dict(build_overview(NOW).chart)
    today = timezone.localdate(NOW)

    def on(days_ago):
        return chart[today - datetime.timedelta(days=days_ago)]

    assert len(chart) == 90
    # Live today: sub_g1-3, s1-3, x1, u1 (sub_c1 ended). A day counts at its end.
    assert on(0) == 8
    assert (on(2), on(3)) == (8, 7)    # started 2 days ago
    assert (on(5), on(6)) == (7, 8)    # ended 5 days ago
    assert (on(10), on(11)) == (8, 7)  # started 10 days ago
    assert (on(40), on(41)) == (7, 6)  # started 40 days ago (its event failed here, not there)
    assert (on(45), on(46)) == (6, 5)  # started 45 days ago
    assert (on(60), on(61)) == (5, 6)  # ended 60 days ago
    assert on(89) == 6


def test_chart_is_inline_svg_without_external_assets(staff_client, business):
    html = staff_client.get("/admin/overview/").content.decode()

    svg = re.search(r'<svg class="chart".*?</svg>', html, re.S).group(0)
    assert 'role="img"' in svg and "<polyline" in svg
    assert "Subscriptions per day, last 90 days: 8 today" in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_overview_stays_bounded_with_100000_members(
    staff_client, django_assert_max_num_queries
):
    members = Member.objects.bulk_create(
        Member(email=f"m{i}@example.com", password="!", stripe_subscription_id=f"sub_{i}")
        for i in range(100_000)
    )
    MemberGroup.objects.bulk_create(
        MemberGroup(name=f"Plan {p}", stripe_price_id=f"price_{p}") for p in range(5)
    )
    statuses = ["active", "trialing", "past_due", "canceled"]
    SubscriptionState.objects.bulk_create(
        (state(f"sub_{i}", statuses[i % 4], [f"price_{i % 5}"], deleted=i % 4 == 3)
         for i in range(100_000)),
        batch_size=5000,
    )
    WebhookEvent.objects.bulk_create(
        (event(f"evt_{i}", "customer.subscription.created", i % 120) for i in range(20_000)),
        batch_size=5000,
    )
    assert len(members) == 100_000

    # Session, user, then the overview's aggregates: never a query per member or per day.
    with django_assert_max_num_queries(16):
        response = staff_client.get("/admin/overview/")

    html = response.content.decode()
    assert figure(html, "subscribed") == "50000"
    assert figure(html, "past-due") == "25000"


def test_webhook_health_shows_the_inbox_backlog(staff_client, db, settings):
    """With the webhook inbox on: how many events wait to be applied, since when."""
    settings.STRIPE_WEBHOOK_QUEUE = True
    settings.STRIPE_WEBHOOK_DRAIN_IN_WORKERS = False  # the figure, not a drain
    html = staff_client.get("/admin/overview/").content.decode()
    assert figure(html, "waiting") == "0"

    WebhookEvent.objects.bulk_create([
        event("evt_w1", "customer.subscription.updated", 1, status=WebhookEvent.Status.RECEIVED),
        event("evt_w2", "customer.subscription.updated", 0, status=WebhookEvent.Status.RECEIVED),
    ])
    html = staff_client.get("/admin/overview/").content.decode()

    assert figure(html, "waiting") == "2"
    oldest = timezone.localtime(NOW - datetime.timedelta(days=1)).strftime("%Y-%m-%d %H:%M UTC")
    assert f"(oldest received {oldest})" in html
    assert "?status__exact=received" in html


def test_no_inbox_no_backlog_figure(staff_client, db):
    html = staff_client.get("/admin/overview/").content.decode()
    assert 'id="figure-waiting"' not in html
