"""The billing overview: the business's figures in a bounded number of aggregate queries."""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.template.response import TemplateResponse
from django.utils import timezone

from members.models import MemberGroup
from payments.models import RefusedDelivery, SubscriptionState, WebhookEvent
from payments.prices import format_amount
from payments.services.grants import GRANTING_STATUSES

from .charts import line_chart_svg
from .plans import plan_names

SUBSCRIBED_STATUSES = ("active", "trialing")
# Stripe's own MRR: what active and past-due subscriptions bill; a trial bills nothing yet.
REVENUE_STATUSES = ("active", "past_due")
# One interval as a fraction of a month (a year is 12 months, a week 52/12 of one per month).
MONTHS_PER_INTERVAL = {
    "day": Fraction(12, 365),
    "week": Fraction(12, 52),
    "month": Fraction(1),
    "year": Fraction(12),
}
REFUSED_HOURS = 24
ENDED_STATUSES = ("canceled", "incomplete_expired")
STARTED_EVENT = "customer.subscription.created"
ENDED_EVENT = "customer.subscription.deleted"
RECENT_DAYS = 30
CHART_DAYS = 90
FAILED_SHOWN = 5


@dataclass
class PlanRow:
    plan: str
    active: int = 0
    trialing: int = 0

    @property
    def total(self) -> int:
        return self.active + self.trialing


class Price(NamedTuple):
    """What a member group stores about its Stripe price (see payments.prices)."""

    group: str
    unit_amount: int | None
    currency: str
    interval: str
    interval_count: int | None


@dataclass
class Revenue:
    """Monthly recurring revenue in one currency, in its smallest unit (cents; yen)."""

    currency: str
    amount: Fraction
    subscriptions: int = 0

    @property
    def display(self) -> str:
        return format_amount(round(self.amount), self.currency)


@dataclass
class Overview:
    plans: list[PlanRow]
    started_recent: int
    ended_recent: int
    past_due: int
    last_delivery: datetime.datetime | None
    failed_count: int
    failed_events: list[WebhookEvent]
    chart: list[tuple[datetime.date, int]] = field(default_factory=list)
    revenue: list[Revenue] = field(default_factory=list)
    # Subscriptions billing a price whose amount the site does not know (yet).
    unpriced: int = 0
    refused_count: int = 0
    # Live subscriptions set to end (cancel at period end, or a cancel_at date).
    scheduled_cancellations: int = 0
    refused_reasons: list[tuple[str, int]] = field(default_factory=list)
    # Stored, not applied yet (the webhook inbox): should stay near 0 and recent.
    waiting: int = 0
    oldest_waiting: datetime.datetime | None = None
    # Active and trialing subscriptions: one each, whatever the plans it holds (a
    # subscription of two plans is a row of each in ``plans``).
    subscribed: int = 0


def prices_by_id() -> dict[str, Price]:
    rows = MemberGroup.objects.exclude(stripe_price_id=None).values_list(
        "stripe_price_id", "name", "price_unit_amount", "price_currency", "price_interval",
        "price_interval_count")
    return {price_id: Price(*details) for price_id, *details in rows}


def live_groups() -> list[dict]:
    """(status, price_ids, n) of the subscriptions the overview counts: one GROUP BY."""
    return list(
        SubscriptionState.objects.filter(
            deleted=False, status__in={*SUBSCRIBED_STATUSES, *REVENUE_STATUSES})
        .values("status", "price_ids")
        .annotate(n=Count("id"))
        .order_by()
    )


def subscribers_per_plan(grouped: list[dict], prices: dict[str, Price]) -> list[PlanRow]:
    """Active and trialing subscriptions per plan."""
    by_price = {price_id: price.group for price_id, price in prices.items()}
    rows: dict[str, PlanRow] = {}
    for item in grouped:
        if item["status"] not in SUBSCRIBED_STATUSES:
            continue
        names = plan_names(item["price_ids"], by_price) or ["No member group for its price"]
        for name in names:
            row = rows.setdefault(name, PlanRow(name))
            setattr(row, item["status"], getattr(row, item["status"]) + item["n"])
    return sorted(rows.values(), key=lambda row: (-row.total, row.plan))


def monthly_amount(price: Price) -> Fraction | None:
    """What one subscription to ``price`` bills per month, in the smallest unit; None if unknown."""
    per_interval = MONTHS_PER_INTERVAL.get(price.interval)
    if price.unit_amount is None or not price.currency or per_interval is None:
        return None
    return Fraction(price.unit_amount) / (per_interval * (price.interval_count or 1))


def monthly_recurring_revenue(
    grouped: list[dict], prices: dict[str, Price]
) -> tuple[list[Revenue], int]:
    """MRR per currency (one of each price per subscription), and the subscriptions left out
    because their price's amount is not stored."""
    per_currency: dict[str, Revenue] = {}
    unpriced = 0
    for item in grouped:
        if item["status"] not in REVENUE_STATUSES:
            continue
        price_ids = item["price_ids"] or ()
        # A price no group carries has no stored amount either: the sum would be short.
        amounts = [(prices[p].currency, monthly_amount(prices[p])) if p in prices else ("", None)
                   for p in price_ids]
        if not amounts or any(amount is None for _, amount in amounts):
            unpriced += item["n"]
            continue
        counted: set[str] = set()
        for currency, amount in amounts:
            revenue = per_currency.setdefault(currency.lower(), Revenue(currency.lower(),
                                                                        Fraction(0)))
            revenue.amount += amount * item["n"]
            if currency.lower() not in counted:
                revenue.subscriptions += item["n"]
                counted.add(currency.lower())
    return sorted(per_currency.values(), key=lambda r: r.currency), unpriced


def refused_deliveries(since: datetime.datetime) -> list[tuple[str, int]]:
    """Refused webhook deliveries since ``since`` per reason, most frequent first."""
    rows = (
        RefusedDelivery.objects.filter(minute__gte=since.replace(second=0, microsecond=0))
        .values("reason")
        .annotate(n=Sum("count"))
        .order_by("-n", "reason")
    )
    return [(row["reason"], row["n"]) for row in rows]


def events_per_day(event_type: str, since: datetime.datetime) -> Counter[datetime.date]:
    """How many events of one type Stripe created per day (site time zone) since ``since``."""
    rows = (
        WebhookEvent.objects.filter(type=event_type, created__gte=since)
        .annotate(day=TruncDate("created", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return Counter({row["day"]: row["n"] for row in rows})


def live_subscriptions() -> int:
    return (
        SubscriptionState.objects.filter(deleted=False)
        .exclude(status__in=(*ENDED_STATUSES, ""))
        .count()
    )


def subscribers_per_day(
    today: datetime.date, live_now: int, started: Counter, ended: Counter
) -> list[tuple[datetime.date, int]]:
    """Walk back from today's live count: a day's count is the next day's, minus the
    subscriptions that started on the next day, plus those that ended on it."""
    series = [(today, live_now)]
    count = live_now
    for back in range(1, CHART_DAYS):
        next_day = today - datetime.timedelta(days=back - 1)
        count = max(0, count - started[next_day] + ended[next_day])
        series.append((next_day - datetime.timedelta(days=1), count))
    return series[::-1]


def build_overview(now: datetime.datetime | None = None) -> Overview:
    now = now or timezone.now()
    today = timezone.localdate(now)
    chart_since = now - datetime.timedelta(days=CHART_DAYS)
    recent_since = today - datetime.timedelta(days=RECENT_DAYS - 1)
    started = events_per_day(STARTED_EVENT, chart_since)
    ended = events_per_day(ENDED_EVENT, chart_since)
    failed = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED)
    prices = prices_by_id()
    grouped = live_groups()
    revenue, unpriced = monthly_recurring_revenue(grouped, prices)
    refused = refused_deliveries(now - datetime.timedelta(hours=REFUSED_HOURS))
    return Overview(
        plans=subscribers_per_plan(grouped, prices),
        subscribed=sum(item["n"] for item in grouped if item["status"] in SUBSCRIBED_STATUSES),
        revenue=revenue,
        unpriced=unpriced,
        refused_count=sum(n for _, n in refused),
        refused_reasons=refused,
        started_recent=sum(n for day, n in started.items() if day >= recent_since),
        ended_recent=sum(n for day, n in ended.items() if day >= recent_since),
        **live_schedule(),
        last_delivery=WebhookEvent.objects.aggregate(last=Max("received_at"))["last"],
        failed_count=failed.count(),
        **inbox_backlog(),
        failed_events=list(failed.only("event_id", "type", "error", "received_at")[:FAILED_SHOWN]),
        chart=subscribers_per_day(today, live_subscriptions(), started, ended),
    )


def inbox_backlog() -> dict:
    """Events the webhook inbox holds, not applied yet: how many, since when (one query)."""
    return WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).aggregate(
        waiting=Count("pk"), oldest_waiting=Min("received_at"))


def live_schedule() -> dict[str, int]:
    """Members in past_due and scheduled cancellations, in one aggregate query."""
    return SubscriptionState.objects.filter(deleted=False).aggregate(
        past_due=Count("pk", filter=Q(status="past_due")),
        scheduled_cancellations=Count("pk", filter=Q(status__in=GRANTING_STATUSES) & (
            Q(cancel_at_period_end=True) | Q(cancel_at__isnull=False))),
    )


def overview_view(site: Any):
    def view(request):
        from .admin_site import can_see_overview

        if not can_see_overview(request):
            raise PermissionDenied
        overview = build_overview()
        context = {
            **site.each_context(request),
            "title": "Billing overview",
            "overview": overview,
            "chart_svg": line_chart_svg(
                overview.chart, label="Subscriptions per day, last 90 days"
            ),
            "recent_days": RECENT_DAYS,
            "refused_hours": REFUSED_HOURS,
            "inbox_on": settings.STRIPE_WEBHOOK_QUEUE,
        }
        return TemplateResponse(request, "admin/overview.html", context)

    return view
