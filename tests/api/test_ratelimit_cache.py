"""Rate-limit counters in a cache (RATE_LIMIT_CACHE_URL): same answers, no counter rows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import override_settings

from kuroco_billing.rcms_api import ratelimit
from kuroco_billing.rcms_api.models import Endpoint, RateLimitCounter
from tests.fixtures.accounts import endpoint_url

pytestmark = pytest.mark.django_db

IN_A_CACHE = override_settings(
    RCMS_RATE_LIMIT_CACHE="ratelimit",
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "default"},
        "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                      "LOCATION": "ratelimit-test"},
    },
)


def limit(api, operation, count, period=3600):
    Endpoint.objects.filter(api=api, operation=operation).update(
        rate_limit_count=count, rate_limit_period=period
    )


@IN_A_CACHE
def test_counted_in_the_cache_with_the_same_answers(client, cookie_api):
    limit(cookie_api, "profile", 2)
    url = endpoint_url(cookie_api, "profile")

    answers = [client.get(url) for _ in range(2)]
    refused = client.get(url)

    assert [a["x-rcms-ratelimit-remaining"] for a in answers] == ["1", "0"]
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "too_many_requests"
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert not RateLimitCounter.objects.exists()
    # Another address has its own count.
    assert client.get(url, REMOTE_ADDR="192.0.2.7")["x-rcms-ratelimit-remaining"] == "1"


@IN_A_CACHE
def test_concurrent_hits_in_the_cache_are_each_counted_once(cookie_api):
    limit(cookie_api, "profile", 1000)
    endpoint = Endpoint.objects.get(api=cookie_api, operation="profile")

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda _: ratelimit.hit(endpoint, "ip:203.0.113.9").count,
                               range(40)))

    assert sorted(counts) == list(range(1, 41))


def test_the_database_table_is_the_default(client, cookie_api):
    limit(cookie_api, "profile", 2)
    client.get(endpoint_url(cookie_api, "profile"))
    assert RateLimitCounter.objects.count() == 1
