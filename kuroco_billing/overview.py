"""The billing overview: the business's figures in a bounded number of aggregate queries."""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.template.response import TemplateResponse
from django.utils import timezone

from payments.models import SubscriptionState, WebhookEvent

from .charts import line_chart_svg
from .plans import groups_by_price, plan_names

SUBSCRIBED_STATUSES = ("active", "trialing")
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

    @property
    def subscribed(self) -> int:
        return sum(row.total for row in self.plans)


def subscribers_per_plan(by_price: dict[str, str]) -> list[PlanRow]:
    """Active and trialing subscriptions per plan; one GROUP BY over the state table."""
    rows: dict[str, PlanRow] = {}
    grouped = (
        SubscriptionState.objects.filter(deleted=False, status__in=SUBSCRIBED_STATUSES)
        .values("status", "price_ids")
        .annotate(n=Count("id"))
        .order_by()
    )
    for item in grouped:
        names = plan_names(item["price_ids"], by_price) or ["No member group for its price"]
        for name in names:
            row = rows.setdefault(name, PlanRow(name))
            setattr(row, item["status"], getattr(row, item["status"]) + item["n"])
    return sorted(rows.values(), key=lambda row: (-row.total, row.plan))


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
    return Overview(
        plans=subscribers_per_plan(groups_by_price()),
        started_recent=sum(n for day, n in started.items() if day >= recent_since),
        ended_recent=sum(n for day, n in ended.items() if day >= recent_since),
        past_due=SubscriptionState.objects.filter(deleted=False, status="past_due").count(),
        last_delivery=WebhookEvent.objects.aggregate(last=Max("received_at"))["last"],
        failed_count=failed.count(),
        failed_events=list(failed.only("event_id", "type", "error", "received_at")[:FAILED_SHOWN]),
        chart=subscribers_per_day(today, live_subscriptions(), started, ended),
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
        }
        return TemplateResponse(request, "admin/overview.html", context)

    return view
