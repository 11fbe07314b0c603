"""How the gateway's calls travel: the proxy environment read once, answers kept as JSON."""

from __future__ import annotations

import socket
import threading

import pytest
import stripe

from payments import gateway

pytestmark = pytest.mark.django_db(transaction=True)

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                   "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


class FakeProxy:
    """A listening socket that records the first request line it is sent and answers 502."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.request_lines: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.server.settimeout(10)
        try:
            connection, _ = self.server.accept()
        except OSError:
            return
        with connection:
            data = connection.recv(65536)
            self.request_lines.append(data.split(b"\r\n", 1)[0].decode())
            connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)


@pytest.fixture
def proxy_environment(monkeypatch):
    """No proxy variable from the machine; a fresh client cache; set() names a proxy."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gateway, "_clients", {})
    proxies: list[FakeProxy] = []

    def use(proxy: FakeProxy) -> None:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)

    yield proxies, use
    for proxy in proxies:
        proxy.close()


def test_a_proxy_named_in_the_environment_carries_the_calls(stripe_enabled, proxy_environment):
    proxies, use = proxy_environment
    proxy = FakeProxy()
    proxies.append(proxy)
    use(proxy)

    with pytest.raises(gateway.StripeUnavailable):
        gateway.retrieve_account()

    [line] = proxy.request_lines
    assert line == f"GET {stripe_enabled.url}/v1/account HTTP/1.1"


def test_the_proxy_environment_is_read_once_per_client_not_on_every_call(
        stripe_enabled, proxy_environment):
    proxies, use = proxy_environment
    assert gateway.retrieve_account()["id"].startswith("acct_")  # the client made: no proxy
    proxy = FakeProxy()
    proxies.append(proxy)
    use(proxy)  # requests would look again on every call; the gateway's client does not

    assert gateway.retrieve_account()["id"].startswith("acct_")
    assert proxy.request_lines == []


def test_no_proxy_leaves_the_stripe_host_direct(stripe_enabled, proxy_environment,
                                                monkeypatch):
    proxies, use = proxy_environment
    proxy = FakeProxy()
    proxies.append(proxy)
    use(proxy)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")

    assert gateway.retrieve_account()["id"].startswith("acct_")
    assert proxy.request_lines == []


@pytest.fixture
def sdk_objects_built(monkeypatch) -> list[str]:
    """The SDK objects (``StripeObject``) built from now on, by class name."""
    built: list[str] = []
    original = stripe.StripeObject.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(stripe.StripeObject, "__init__", counting)
    return built


def test_answers_stay_plain_json_without_sdk_objects(stripe_enabled, basic_price,
                                                     sdk_objects_built):
    price_id, _ = basic_price
    params = {"mode": "subscription", "line_items": [{"price": price_id, "quantity": 1}],
              "success_url": "https://example.com/thanks"}

    session = gateway.create_checkout_session(params, idempotency_key="kb-transport-1")
    price = gateway.retrieve_price(price_id, with_product=True)
    account = gateway.retrieve_account()

    assert sdk_objects_built == []
    assert session["id"].startswith("cs_") and session["url"].startswith("http")
    assert set(session) == set(gateway.CHECKOUT_SESSION_FIELDS)
    for answer in (price, price["product"], price["recurring"], account):
        assert isinstance(answer, dict) and not isinstance(answer, stripe.StripeObject)
    assert price["id"] == price_id and price["product"]["id"].startswith("prod_")
    assert price["recurring"]["interval"] == "month"
    assert account["id"].startswith("acct_")


def test_a_refusal_is_still_the_sdks_error_translated(stripe_enabled, sdk_objects_built):
    with pytest.raises(gateway.StripeInvalidRequest) as caught:
        gateway.retrieve_price("price_doesnotexist")
    assert caught.value.is_missing
    assert caught.value.http_status == 404


def test_an_id_cannot_reach_another_path(stripe_enabled, sdk_objects_built):
    with pytest.raises(gateway.StripeInvalidRequest) as caught:
        gateway.retrieve_price("../../v1/account")
    assert caught.value.http_status == 404
