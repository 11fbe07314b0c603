"""Cross-site form POSTs to the dashboard (and the emulator's other pages) are refused."""

from __future__ import annotations

import pytest
import requests

HOOK = {"url": "http://127.0.0.1:9/hook", "description": "evil", "enabled_events": ["*"]}
CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},                                   # sandboxed frame, no-referrer
    {"Origin": "http://[::1"},                            # malformed: refused, not a 500
    {"Referer": "https://evil.example/page.html"},        # no Origin, foreign Referer
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},                      # another port of localhost
]


def endpoints(stripe_client) -> list:
    return stripe_client.v1.webhook_endpoints.list().data


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_cross_site_post_cannot_register_a_webhook_endpoint(emulator, stripe_client,
                                                              headers):
    response = requests.post(f"{emulator.url}/webhooks", data=HOOK, headers=headers,
                             allow_redirects=False)
    assert response.status_code == 403, response.text[:300]
    assert "cross-site" in response.text
    assert endpoints(stripe_client) == []


def test_another_port_is_another_origin(emulator, stripe_client):
    other = emulator.url.rsplit(":", 1)[0] + ":1"
    response = requests.post(f"{emulator.url}/webhooks", data=HOOK,
                             headers={"Origin": other}, allow_redirects=False)
    assert response.status_code == 403
    assert endpoints(stripe_client) == []


@pytest.mark.parametrize("path", ["/clock", "/products", "/c/pay/cs_x", "/_emulator/advance",
                                  "/_emulator/faults"])
def test_other_forms_and_controls_refuse_cross_site_posts(emulator, path):
    before = emulator.now()
    response = requests.post(f"{emulator.url}{path}", headers={"Origin": "https://evil.example"},
                             data={"days": "30", "seconds": "2592000", "name": "X",
                                   "amount": "1", "path": "/v1", "mode": "500"})
    assert response.status_code == 403
    assert emulator.now() - before < 60
    assert requests.get(f"{emulator.url}/_emulator/faults").json()["faults"] == []


def test_the_dashboards_own_forms_keep_working(emulator, stripe_client):
    page = f"{emulator.url}/webhooks"
    same_origin = {"Origin": emulator.url, "Referer": page, "Sec-Fetch-Site": "same-origin"}
    response = requests.post(page, data=HOOK, headers=same_origin)
    assert response.status_code == 200 and "/webhooks/we_" in response.url
    # A Referer of the dashboard itself, with no Origin, is also the dashboard.
    response = requests.post(page, data=HOOK, headers={"Referer": page})
    assert response.status_code == 200
    # Typed in the address bar or posted by a script (no browser headers): not cross-site.
    assert requests.post(page, data=HOOK).status_code == 200
    assert len(endpoints(stripe_client)) == 3
