"""The overview's revenue and refused deliveries, against a seeded set with known figures."""

import datetime
import re
from fractions import Fraction

import pytest
from django.utils import timezone

from kuroco_billing.overview import Price, build_overview, monthly_amount
from members.models import MemberGroup
from payments.models import RefusedDelivery, SubscriptionState

NOW = timezone.now()


def group(name, price_id, amount=None, currency="", interval="", count=None):
    return MemberGroup(name=name, stripe_price_id=price_id, price_unit_amount=amount,
                       price_currency=currency, price_interval=interval,
                       price_interval_count=count)


def subscriptions(price_id, status, n, *, deleted=False):
    return [SubscriptionState(subscription_id=f"sub_{price_id}_{status}_{i}", status=status,
                              price_ids=[price_id], deleted=deleted) for i in range(n)]


@pytest.fixture
def business(db):
    MemberGroup.objects.bulk_create([
        group("Gold", "price_gold", 1000, "jpy", "month", 1),
        group("Gold yearly", "price_goldyear", 12000, "jpy", "year", 1),
        group("Quarterly", "price_quarter", 3000, "jpy", "month", 3),
        group("Weekly", "price_week", 300, "jpy", "week", 1),
        group("Daily", "price_day", 100, "jpy", "day", 1),
        group("Pro", "price_pro", 2500, "usd", "month", 1),
        group("Pro yearly", "price_proyear", 24000, "usd", "year", 1),
        group("Not checked yet", "price_unchecked"),
    ])
    SubscriptionState.objects.bulk_create([
        *subscriptions("price_gold", "active", 2),       # 2,000 JPY
        *subscriptions("price_gold", "past_due", 1),     # 1,000 JPY: still billed
        *subscriptions("price_gold", "trialing", 4),     # a trial bills nothing yet
        *subscriptions("price_gold", "unpaid", 1),       # Stripe stopped billing
        *subscriptions("price_gold", "canceled", 3, deleted=True),
        *subscriptions("price_goldyear", "active", 1),   # 12,000 / 12 = 1,000 JPY
        *subscriptions("price_quarter", "active", 1),    # 3,000 / 3 = 1,000 JPY
        *subscriptions("price_week", "active", 1),       # 300 * 52 / 12 = 1,300 JPY
        *subscriptions("price_day", "active", 1),        # 100 * 365 / 12 = 3,041.67 JPY
        *subscriptions("price_pro", "active", 1),        # 25.00 USD
        *subscriptions("price_proyear", "active", 1),    # 240.00 / 12 = 20.00 USD
        *subscriptions("price_unchecked", "active", 2),  # amount unknown: left out, said so
        *subscriptions("price_nogroup", "active", 1),    # no group: unknown too
    ])


def revenue_rows(html: str) -> list[tuple[str, ...]]:
    table = re.search(r'<table id="revenue">.*?</table>', html, re.S).group(0)
    return [
        tuple(re.sub(r"<[^>]+>", "", cell).strip()
              for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row))
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    ]


def test_mrr_per_currency_with_every_interval_normalised_to_a_month(staff_client, business):
    html = staff_client.get("/admin/overview/").content.decode()

    # JPY: 2,000 + 1,000 + 1,000 + 1,000 + 1,300 + 3,041.67 = 9,341.67, shown rounded.
    assert revenue_rows(html) == [
        ("JPY", "9,342 JPY", "7"),
        ("USD", "45.00 USD", "2"),
    ]
    assert re.search(r'id="mrr-unpriced">3 subscriptions left out:', html)


def test_mrr_is_exact_before_it_is_rounded(business):
    revenue = {r.currency: r.amount for r in build_overview(NOW).revenue}

    assert revenue == {"jpy": Fraction(28025, 3), "usd": Fraction(4500)}


@pytest.mark.parametrize(("interval", "count", "per_month"), [
    ("month", 1, Fraction(1200)),
    ("month", 6, Fraction(200)),
    ("year", 1, Fraction(100)),
    ("year", 2, Fraction(50)),
    ("week", 1, Fraction(1200 * 52, 12)),
    ("week", 2, Fraction(1200 * 52, 24)),
    ("day", 1, Fraction(1200 * 365, 12)),
])
def test_monthly_amount(interval, count, per_month):
    assert monthly_amount(Price("G", 1200, "usd", interval, count)) == per_month


def test_a_price_without_amount_or_interval_is_unknown():
    assert monthly_amount(Price("G", None, "usd", "month", 1)) is None
    assert monthly_amount(Price("G", 1200, "", "month", 1)) is None
    assert monthly_amount(Price("G", 1200, "usd", "", None)) is None


def test_no_revenue_yet_says_so(staff_client):
    html = staff_client.get("/admin/overview/").content.decode()

    assert revenue_rows(html) == [("No recurring revenue yet.",)]
    assert "mrr-unpriced" not in html


# --- Refused deliveries ------------------------------------------------------------------

def refused(reason, address, count, hours_ago):
    moment = NOW - datetime.timedelta(hours=hours_ago)
    return RefusedDelivery(minute=moment.replace(second=0, microsecond=0), reason=reason,
                           client_address=address, count=count, first_at=moment,
                           last_at=moment)


BAD_SIGNATURE = "No signature matches a configured webhook secret."
NO_HEADER = "Missing Stripe-Signature header."


def test_refused_deliveries_of_the_last_24_hours_with_their_reasons(staff_client, db):
    RefusedDelivery.objects.bulk_create([
        refused(BAD_SIGNATURE, "203.0.113.1", 5, 1),
        refused(BAD_SIGNATURE, "203.0.113.2", 3, 23),
        refused(NO_HEADER, "198.51.100.9", 2, 2),
        refused(BAD_SIGNATURE, "203.0.113.1", 100, 25),  # older than a day
    ])

    html = staff_client.get("/admin/overview/").content.decode()

    assert re.search(r'<dd id="figure-refused"><a href="/admin/payments/refuseddelivery/">10<',
                     html)
    table = re.search(r'<table id="refused-reasons">.*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"number\">(\d+)</td></tr>", table)
    assert rows == [(BAD_SIGNATURE, "8"), (NO_HEADER, "2")]


def test_no_refused_deliveries_shows_zero_and_no_table(staff_client, db):
    html = staff_client.get("/admin/overview/").content.decode()

    assert re.search(r'<dd id="figure-refused"><a [^>]*>0<', html)
    assert 'id="refused-reasons"' not in html


def test_one_subscription_of_two_plans_is_one_subscriber(staff_client, db):
    """A checkout may sell two groups' prices: a row under each plan, one subscription."""
    MemberGroup.objects.bulk_create([group("Gold", "price_gold"), group("Extra", "price_extra")])
    SubscriptionState.objects.create(subscription_id="sub_two", status="active",
                                     price_ids=["price_gold", "price_extra"])

    html = staff_client.get("/admin/overview/").content.decode()

    assert re.search(r'<dd id="figure-subscribed">\s*1\s*<', html)


def test_a_price_no_group_carries_leaves_the_subscription_out_of_the_revenue(staff_client,
                                                                             db):
    """Its amount is not stored: the sum would be short, so it is counted as left out."""
    MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold",
                               price_unit_amount=1000, price_currency="jpy",
                               price_interval="month", price_interval_count=1)
    SubscriptionState.objects.create(subscription_id="sub_x", status="active",
                                     price_ids=["price_gold", "price_added_in_dashboard"])

    overview = build_overview()

    assert (overview.revenue, overview.unpriced) == ([], 1)


def test_three_decimal_currencies_are_read_in_thousandths(staff_client, db):
    """Stripe counts BHD, JOD, KWD, OMR and TND in thousandths: 10000 is 10.000 KWD."""
    MemberGroup.objects.create(name="Kuwait", stripe_price_id="price_kwd",
                               price_product_name="Basic", price_unit_amount=10000,
                               price_currency="kwd", price_interval="month",
                               price_interval_count=1)
    SubscriptionState.objects.create(subscription_id="sub_k", status="active",
                                     price_ids=["price_kwd"])

    groups = staff_client.get("/admin/members/membergroup/").content.decode()
    overview = staff_client.get("/admin/overview/").content.decode()

    assert "Basic — 10.000 KWD / month" in groups
    assert "10.000 KWD" in overview and "100.00 KWD" not in overview
