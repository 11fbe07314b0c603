"""The client address that lockouts and rate limits count by, behind proxies or not."""

import pytest
from django.test import RequestFactory, override_settings

from kuroco_billing.clients import client_ip

pytestmark = pytest.mark.django_db


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_proxies_the_connection_is_the_client():
    assert client_ip(request_from("203.0.113.5", "198.51.100.1")) == "203.0.113.5"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_the_last_forwarded_address_is_the_client():
    # The client may prepend anything; only the proxy's own entry is trusted.
    forwarded = "6.6.6.6, 198.51.100.7"
    assert client_ip(request_from("10.0.0.2", forwarded)) == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_behind_two_proxies_the_second_entry_from_the_right_is_the_client():
    forwarded = "6.6.6.6, 198.51.100.7, 10.0.0.9"
    assert client_ip(request_from("10.0.0.2", forwarded)) == "198.51.100.7"


@override_settings(TRUSTED_PROXY_COUNT=1)
@pytest.mark.parametrize("forwarded", ["", "not-an-ip"])
def test_missing_or_garbage_header_falls_back_to_the_connection(forwarded):
    assert client_ip(request_from("10.0.0.2", forwarded)) == "10.0.0.2"


@override_settings(TRUSTED_PROXY_COUNT=1, AXES_FAILURE_LIMIT=3)
def test_lockout_behind_a_proxy_counts_each_client_separately(client, token_api, member):
    """Many clients share the proxy's address; one client's failures lock out only itself."""
    from tests.fixtures.accounts import MEMBER_PASSWORD, endpoint_url, post_json

    url = endpoint_url(token_api, "login_challenge")
    for _ in range(3):
        post_json(client, url, {"email": member.email, "password": "wrong"},
                  REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1")
    locked = post_json(client, url, {"email": member.email, "password": MEMBER_PASSWORD},
                       REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1")
    other = post_json(client, url, {"email": member.email, "password": MEMBER_PASSWORD},
                      REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.2")

    assert locked.status_code == 429
    assert other.status_code == 200


def test_a_request_without_an_address_has_none():
    """Django's force_login builds such a request; axes must not store a bogus address."""
    request = RequestFactory().get("/")
    del request.META["REMOTE_ADDR"]
    assert client_ip(request) is None
