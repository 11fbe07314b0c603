"""Kuroco's per-endpoint rate limit: headers, 429, per endpoint and per client."""

from __future__ import annotations

import time

import pytest

from kuroco_billing.rcms_api.models import Endpoint
from tests.fixtures.accounts import (
    MEMBER_PASSWORD,
    OTHER_PASSWORD,
    auth_headers,
    endpoint_url,
)

pytestmark = pytest.mark.django_db

HEADERS = ("x-rcms-ratelimit-limit", "x-rcms-ratelimit-remaining", "x-rcms-ratelimit-reset")


def limit(api, operation, count, period=3600):
    Endpoint.objects.filter(api=api, operation=operation).update(
        rate_limit_count=count, rate_limit_period=period
    )


def test_limited_endpoint_counts_down_then_answers_429(client, cookie_api):
    limit(cookie_api, "profile", 3, 3600)
    url = endpoint_url(cookie_api, "profile")
    started = time.time()

    answers = [client.get(url) for _ in range(3)]
    refused = client.get(url)

    for remaining, response in zip([2, 1, 0], answers, strict=True):
        assert response.status_code == 401  # counted even when not signed in
        assert response["x-rcms-ratelimit-limit"] == "3"
        assert response["x-rcms-ratelimit-remaining"] == str(remaining)
    reset = int(answers[0]["x-rcms-ratelimit-reset"])
    assert reset % 3600 == 0 and started < reset <= started + 3600
    assert refused.status_code == 429
    body = refused.json()
    assert body["errors"][0]["code"] == "too_many_requests"
    assert body["x-rcms-request-id"] == refused["x-rcms-request-id"]
    assert refused["x-rcms-ratelimit-remaining"] == "0"
    assert refused["x-rcms-ratelimit-reset"] == str(reset)
    assert 1 <= int(refused["Retry-After"]) <= 3600


def test_unlimited_endpoints_carry_no_rate_limit_headers(client, cookie_api):
    response = client.get(endpoint_url(cookie_api, "profile"))
    for header in HEADERS:
        assert header not in response


def test_the_limit_is_per_endpoint(client, cookie_api, member):
    limit(cookie_api, "profile", 1)
    url = endpoint_url(cookie_api, "profile")
    assert client.get(url).status_code == 401
    assert client.get(url).status_code == 429

    login = client.post(endpoint_url(cookie_api, "login_challenge"),
                        {"email": member.email, "password": MEMBER_PASSWORD},
                        content_type="application/json")
    assert login.status_code == 200


def test_anonymous_clients_are_counted_by_address(client, token_api):
    limit(token_api, "profile", 1)
    url = endpoint_url(token_api, "profile")

    assert client.get(url, REMOTE_ADDR="192.0.2.1").status_code == 401
    assert client.get(url, REMOTE_ADDR="192.0.2.1").status_code == 429
    assert client.get(url, REMOTE_ADDR="192.0.2.2").status_code == 401


def test_signed_in_members_are_counted_by_member(client, token_api, member, other_member):
    mine = auth_headers(client, token_api, member, MEMBER_PASSWORD)
    theirs = auth_headers(client, token_api, other_member, OTHER_PASSWORD)
    limit(token_api, "profile", 2)
    url = endpoint_url(token_api, "profile")

    # One member from two addresses shares one count...
    assert client.get(url, REMOTE_ADDR="192.0.2.1", **mine).status_code == 200
    assert client.get(url, REMOTE_ADDR="192.0.2.2", **mine).status_code == 200
    assert client.get(url, REMOTE_ADDR="192.0.2.3", **mine).status_code == 429
    # ...and another member from the same address has their own.
    response = client.get(url, REMOTE_ADDR="192.0.2.1", **theirs)
    assert response.status_code == 200
    assert response["x-rcms-ratelimit-remaining"] == "1"


def test_a_new_window_starts_afresh(client, cookie_api):
    limit(cookie_api, "profile", 1, period=1)
    url = endpoint_url(cookie_api, "profile")
    # Start right after a window boundary so both requests share one window.
    time.sleep(1 - time.time() % 1 + 0.01)
    assert client.get(url).status_code == 401
    refused = client.get(url)
    assert refused.status_code == 429

    time.sleep(max(0.0, int(refused["x-rcms-ratelimit-reset"]) - time.time()) + 0.01)
    response = client.get(url)
    assert response.status_code == 401
    assert response["x-rcms-ratelimit-remaining"] == "0"


def test_preflights_are_not_counted(client, cookie_api):
    cookie_api.cors_allowed_origins = "https://app.example.com"
    cookie_api.save()
    limit(cookie_api, "profile", 1)
    url = endpoint_url(cookie_api, "profile")
    for _ in range(3):
        assert client.options(url, HTTP_ORIGIN="https://app.example.com",
                              HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET").status_code == 204
    assert client.get(url).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_are_each_counted_once(cookie_api):
    """Parallel workers share one counter and never lose an increment."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from kuroco_billing.rcms_api import ratelimit

    limit(cookie_api, "profile", 1000, 3600)
    endpoint = Endpoint.objects.get(api=cookie_api, operation="profile")

    def one_hit(_):
        try:
            return ratelimit.hit(endpoint, "ip:203.0.113.9").count
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(one_hit, range(40)))

    assert sorted(counts) == list(range(1, 41))
