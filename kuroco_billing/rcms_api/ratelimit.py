"""Kuroco's per-endpoint rate limit: N requests per period per client, fixed window.

Counts live in Django's cache (the database cache in settings), so every
worker process shares them. ``cache.add`` creates the window's counter once
and ``cache.incr`` bumps it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache

from .errors import ApiError
from .models import Endpoint

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
    return f"ip:{request.META.get('REMOTE_ADDR', 'unknown')}"


def hit(endpoint: Endpoint, client: str, *, now: float | None = None) -> Window | None:
    """Count one request by ``client`` on ``endpoint``; None when the endpoint is unlimited."""
    limit, period = endpoint.rate_limit_count, endpoint.rate_limit_period
    if not limit or not period:
        return None
    now = time.time() if now is None else now
    window_start = int(now // period) * period
    key = f"rcms-api:ratelimit:{endpoint.pk}:{client}:{window_start}"
    # A little longer than the window, so the counter outlives clock skew.
    cache.add(key, 0, timeout=period + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=period + 5)
        count = 1
    return Window(limit=limit, count=count, reset_at=window_start + period, now=now)


def enforce(window: Window) -> None:
    if window.exceeded:
        raise ApiError(
            "too_many_requests", TOO_MANY,
            headers={**window.headers, "Retry-After": str(window.retry_after)},
        )
