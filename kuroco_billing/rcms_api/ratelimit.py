"""Kuroco's per-endpoint rate limit: N requests per period per client, fixed window.

Counts live in a database table shared by every worker process (one
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` creates and bumps a window's counter),
or in the cache ``settings.RCMS_RATE_LIMIT_CACHE`` names (docs/performance.md, Scaling).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import connection

from kuroco_billing.clients import client_ip

from .errors import ApiError
from .models import Endpoint, RateLimitCounter

TOO_MANY = "Rate limit exceeded for this endpoint. Try again later."


@dataclass(frozen=True)
class Window:
    limit: int
    count: int
    reset_at: int  # unix seconds when the window ends
    now: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def headers(self) -> dict[str, str]:
        return {
            "x-rcms-ratelimit-limit": str(self.limit),
            "x-rcms-ratelimit-remaining": str(self.remaining),
            "x-rcms-ratelimit-reset": str(self.reset_at),
        }

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - self.now))


def client_key(request, member) -> str:
    if member is not None:
        return f"member:{member.pk}"
    return f"ip:{client_ip(request) or 'unknown'}"


def hit(endpoint: Endpoint, client: str, *, now: float | None = None) -> Window | None:
    """Count one request by ``client`` on ``endpoint``; None when the endpoint is unlimited."""
    limit, period = endpoint.rate_limit_count, endpoint.rate_limit_period
    if not limit or not period:
        return None
    now = time.time() if now is None else now
    window_start = int(now // period) * period
    key = f"{endpoint.pk}:{client}:{window_start}"
    if settings.RCMS_RATE_LIMIT_CACHE:
        count = _bump_in_cache(key, seconds_left=window_start + period - int(now))
        return Window(limit=limit, count=count, reset_at=window_start + period, now=now)
    count = _bump(key, expires_at=window_start + period)
    if count == 1:
        # A new window began: forget the finished ones (cheap, indexed).
        RateLimitCounter.objects.filter(expires_at__lt=int(now)).delete()
    return Window(limit=limit, count=count, reset_at=window_start + period, now=now)


def _bump(key: str, *, expires_at: int) -> int:
    table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
    # Supported alike by PostgreSQL and SQLite (3.35+).
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, expires_at) VALUES (%s, 1, %s) "  # noqa: S608
            f"ON CONFLICT (key) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [key, expires_at],
        )
        return cursor.fetchone()[0]


def _bump_in_cache(key: str, *, seconds_left: int) -> int:
    """Create-or-bump in the cache; its own expiry forgets finished windows.

    Atomic only where the backend's ``incr`` is (Redis, Memcached, per process locmem).
    """
    cache = caches[settings.RCMS_RATE_LIMIT_CACHE]
    key = f"rcms-ratelimit:{key}"
    timeout = max(1, seconds_left)
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.add(key, 1, timeout=timeout)
        return 1


def enforce(window: Window) -> None:
    if window.exceeded:
        raise ApiError(
            "too_many_requests", TOO_MANY,
            headers={**window.headers, "Retry-After": str(window.retry_after)},
        )
