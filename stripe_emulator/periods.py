"""Billing-period arithmetic: calendar months and years, like Stripe, clamped to month ends."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

DAY = 86400


def _add_months(ts: int, months: int) -> int:
    start = datetime.fromtimestamp(ts, UTC)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def add_interval(ts: int, interval: str, count: int = 1) -> int:
    if interval == "day":
        return ts + count * DAY
    if interval == "week":
        return ts + count * 7 * DAY
    if interval == "month":
        return _add_months(ts, count)
    if interval == "year":
        return _add_months(ts, 12 * count)
    raise ValueError(f"unknown interval {interval!r}")


def next_period_end(anchor: int, after: int, interval: str, count: int) -> int:
    """The first anchor + k*interval strictly after ``after`` (periods stay on the anchor day)."""
    k = 1
    while True:
        end = add_interval(anchor, interval, count * k)
        if end > after:
            return end
        k += 1
