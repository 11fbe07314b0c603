"""With its database unreachable, the app says so in JSON (503), never an HTML traceback.

gunicorn is started with DATABASE_URL pointing at a PostgreSQL port nobody listens on,
so this needs no running PostgreSQL, only the driver; it runs on SQLite CI too.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.fixtures.processes import (
    app_env,
    encode,
    free_port,
    make_event,
    signed_headers,
    start_gunicorn,
)


@pytest.fixture(scope="module")
def app_without_database(process_log_dir):
    dead_database = f"postgres://postgres@127.0.0.1:{free_port()}/kuroco_billing_gone"
    env = app_env(dead_database, "http://127.0.0.1:9", PGCONNECT_TIMEOUT="2")
    server, url = start_gunicorn(env, process_log_dir, workers=1)
    try:
        yield url
    finally:
        server.stop()


def assert_json_503(response: requests.Response) -> dict:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    assert "Traceback" not in response.text
    assert "<html" not in response.text.lower()
    assert "127.0.0.1" not in response.text  # no DSN, host or port in the answer
    return response.json()


def test_health_check_answers_503(app_without_database):
    body = assert_json_503(requests.get(f"{app_without_database}/healthz", timeout=30))
    assert body == {"status": "unavailable"}


@pytest.mark.parametrize("api_id", [1, 2])
def test_api_answers_503_in_the_envelope(app_without_database, api_id):
    response = requests.get(f"{app_without_database}/rcms-api/{api_id}/profile", timeout=30)

    body = assert_json_503(response)
    assert [e["code"] for e in body["errors"]] == ["service_unavailable"]
    assert body["x-rcms-request-id"]
    assert response.headers["x-rcms-request-id"] == body["x-rcms-request-id"]


def test_api_post_answers_503_in_the_envelope(app_without_database):
    response = requests.post(
        f"{app_without_database}/rcms-api/1/login",
        json={"email": "member@example.com", "password": "member-pass-123"},
        headers={"Origin": app_without_database}, timeout=30,
    )

    body = assert_json_503(response)
    assert [e["code"] for e in body["errors"]] == ["service_unavailable"]


def test_webhook_answers_503_so_stripe_retries(app_without_database):
    event = make_event("customer.subscription.updated", {"id": "sub_x", "customer": "cus_x"},
                       created=int(time.time()))
    body = encode(event)

    response = requests.post(f"{app_without_database}/direct/stripe/webhook/", data=body,
                             headers=signed_headers(body, "whsec_anything"), timeout=30)

    answer = assert_json_503(response)
    assert [e["code"] for e in answer["errors"]] == ["service_unavailable"]  # the envelope
    assert answer["x-rcms-request-id"] == response.headers["x-rcms-request-id"]
    assert response.headers.get("Retry-After")
