"""Webhook URLs: loopback and ``localhost`` only, unless started with --allow-remote-webhooks."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
import stripe

from stripe_emulator.keys import DEFAULT_SECRET_KEY
from stripe_emulator.testing import start_in_thread
from tests.fixtures.emulator import FAST_WEBHOOKS

from .helpers import Receiver
from .test_process import REPO, free_port

ALLOWED = [
    "http://127.0.0.1:9/hook",
    "http://127.8.9.10:9/hook",
    "http://[::1]:9/hook",
    "http://localhost:9/hook",
    "https://LOCALHOST/hook",
]
REFUSED = [
    "http://169.254.169.254/latest/meta-data/",   # link-local (cloud metadata)
    "http://10.0.0.1/hook",                      # private
    "http://192.168.1.1/hook",
    "http://[fe80::1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://0.0.0.0:9/hook",
    "https://example.com/hook",
    "http://localhost.evil.example/hook",
    "http://127.0.0.1.nip.io/hook",              # a name that resolves to loopback elsewhere
    "http://2130706433/hook",                    # 127.0.0.1 as one number: not a literal
    "http://attacker@evil.example/hook",
]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def create(client, url):
    return client.v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["*"]})


@pytest.mark.parametrize("url", ALLOWED)
def test_loopback_urls_are_accepted(stripe_client, url):
    assert create(stripe_client, url).url == url


@pytest.mark.parametrize("url", REFUSED)
def test_other_urls_are_refused_in_stripes_format(stripe_client, emulator, url):
    with pytest.raises(stripe.InvalidRequestError) as info:
        create(stripe_client, url)
    assert info.value.http_status == 400
    assert info.value.param == "url"
    assert info.value.error.type == "invalid_request_error"
    assert "--allow-remote-webhooks" in info.value.user_message
    assert stripe_client.v1.webhook_endpoints.list().data == []


def test_an_update_to_a_remote_url_is_refused(stripe_client):
    endpoint = create(stripe_client, "http://127.0.0.1:9/hook")
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.webhook_endpoints.update(endpoint.id,
                                                  params={"url": "http://10.1.2.3/hook"})
    assert info.value.param == "url"
    assert stripe_client.v1.webhook_endpoints.retrieve(endpoint.id).url == endpoint.url


def test_the_dashboard_form_refuses_a_remote_url(emulator, stripe_client):
    page = requests.get(f"{emulator.url}/webhooks").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0] \
        if 'name="csrf_token"' in page else ""
    response = requests.post(f"{emulator.url}/webhooks", data={
        "url": "http://169.254.169.254/x", "enabled_events": ["*"], "csrf_token": token},
        cookies=requests.utils.dict_from_cookiejar(requests.get(emulator.url).cookies))
    assert response.status_code == 400
    assert "--allow-remote-webhooks" in response.text
    assert stripe_client.v1.webhook_endpoints.list().data == []


def test_the_flag_allows_remote_urls():
    with start_in_thread(allow_remote_webhooks=True, **FAST_WEBHOOKS) as emu:
        client = stripe.StripeClient(emu.secret_key, base_addresses={"api": emu.url},
                                     max_network_retries=0)
        assert create(client, "https://example.com/hook").url == "https://example.com/hook"


def test_delivery_rechecks_the_host(tmp_path, receiver):
    """An endpoint kept in a state file from a run with the flag is not sent to later."""
    state = tmp_path / "state.json"
    with start_in_thread(state_path=state, allow_remote_webhooks=True, **FAST_WEBHOOKS) as emu:
        client = stripe.StripeClient(emu.secret_key, base_addresses={"api": emu.url},
                                     max_network_retries=0)
        remote = create(client, "http://192.0.2.1:9/hook")  # TEST-NET: never answers
        local = create(client, receiver.url)
    with start_in_thread(state_path=state, **FAST_WEBHOOKS) as emu:
        client = stripe.StripeClient(emu.secret_key, base_addresses={"api": emu.url},
                                     max_network_retries=0)
        client.v1.customers.create(params={"email": "a@example.com"})
        assert emu.drain() == 0
        deliveries = requests.get(f"{emu.url}/_emulator/deliveries").json()["data"]
    to_remote = [d for d in deliveries if d["endpoint"] == remote.id]
    assert len(to_remote) == 1  # refused once, never retried
    assert to_remote[0]["status"] is None and "not allowed" in to_remote[0]["error"]
    assert [json.loads(r["body"])["type"] for r in receiver.received] == ["customer.created"]
    assert [d["ok"] for d in deliveries if d["endpoint"] == local.id] == [True]


@pytest.mark.parametrize(("flag", "accepted"), [([], False), (["--allow-remote-webhooks"], True)])
def test_the_cli_flag(flag, accepted):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stripe_emulator", "--port", str(port),
                             *flag], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the CLI did not start"
                time.sleep(0.1)
        client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": url},
                                     max_network_retries=0)
        if accepted:
            assert create(client, "https://example.com/hook").url == "https://example.com/hook"
        else:
            with pytest.raises(stripe.InvalidRequestError):
                create(client, "https://example.com/hook")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
