"""The checkout's "new idempotency key after a 5xx" rule, against an emulator that saves
and replays a 500 under its key as Stripe does (a fault injected during execution).

Only the front-end API is driven (``/rcms-api/<id>/stripe/checkout``); what is checked is
what the member sees and what Stripe (the emulator) holds.
"""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.accounts import MEMBER_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = "/v1/checkout/sessions"


@pytest.fixture
def member_session(stripe_enabled, checkout_api, member) -> requests.Session:
    """A browser-like, signed-in client of the checkout API (same origin, JSON)."""
    http = requests.Session()
    http.headers["Origin"] = stripe_enabled.site_url
    response = http.post(f"{stripe_enabled.site_url}/rcms-api/{checkout_api.pk}/login",
                         json={"email": member.email, "password": MEMBER_PASSWORD}, timeout=60)
    assert response.status_code == 200, response.text
    return http


def checkout(stripe_enabled, checkout_api, http: requests.Session) -> requests.Response:
    return http.post(f"{stripe_enabled.site_url}/rcms-api/{checkout_api.pk}/stripe/checkout",
                     json={}, timeout=60)


def saved_session_creates(emulator) -> list[tuple[str, int]]:
    """(idempotency key, saved status) of every session create the emulator saved."""
    cache = emulator.emulator.store.private["idempotency"]
    return [(key.split("|", 1)[1], entry["status"]) for key, entry in cache.items()
            if (entry["method"], entry["path"]) == ("POST", SESSIONS)]


def test_a_500_saved_under_the_key_is_answered_502_and_the_retry_uses_a_new_key(
        stripe_enabled, emulator, checkout_api, member_session):
    stripe_enabled.post("/_emulator/faults", path=SESSIONS, method="POST", mode="500",
                        stage="during", count=1)

    failed = checkout(stripe_enabled, checkout_api, member_session)
    assert failed.status_code == 502, failed.text
    body = failed.json()
    assert body["errors"][0]["code"] == "bad_gateway"
    assert "sk_" not in failed.text and "Traceback" not in failed.text
    assert stripe_enabled.client.v1.checkout.sessions.list().data == []
    [(poisoned_key, status)] = saved_session_creates(emulator)
    assert status == 500  # Stripe would replay this 500 to every retry with that key

    retry = checkout(stripe_enabled, checkout_api, member_session)
    assert retry.status_code == 200, retry.text
    url = retry.json()["url"]
    [session] = stripe_enabled.client.v1.checkout.sessions.list().data
    assert url == session.url and session.status == "open"
    saved = dict(saved_session_creates(emulator))
    assert saved[poisoned_key] == 500
    assert [status for key, status in saved.items() if key != poisoned_key] == [200]

    # The member's next visit reuses the open session rather than making a second one.
    again = checkout(stripe_enabled, checkout_api, member_session)
    assert again.status_code == 200 and again.json()["url"] == url
    assert len(stripe_enabled.client.v1.checkout.sessions.list().data) == 1


def test_a_500_before_execution_is_not_saved_and_the_retry_succeeds(
        stripe_enabled, emulator, checkout_api, member_session):
    stripe_enabled.post("/_emulator/faults", path=SESSIONS, method="POST", mode="500",
                        count=1)  # stage "before": the request never reached execution
    assert checkout(stripe_enabled, checkout_api, member_session).status_code == 502
    assert saved_session_creates(emulator) == []
    retry = checkout(stripe_enabled, checkout_api, member_session)
    assert retry.status_code == 200, retry.text
    assert len(stripe_enabled.client.v1.checkout.sessions.list().data) == 1
