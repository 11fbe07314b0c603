"""The emulator clock refuses values that would break it, and a failed change rolls back."""

from __future__ import annotations

import json

import pytest
import requests
import stripe

from stripe_emulator.billing import MAX_ADVANCE_SECONDS
from stripe_emulator.state import Store
from stripe_emulator.testing import start_in_thread

from .helpers import DAY


def client_for(handle):
    return stripe.StripeClient(handle.secret_key, base_addresses={"api": handle.url},
                               max_network_retries=0)


def assert_still_serves(client: stripe.StripeClient, handle) -> None:
    customer = client.v1.customers.create(params={"email": "after@example.com"})
    assert client.v1.customers.list().data[0].id == customer.id
    clock = requests.get(f"{handle.url}/_emulator/clock").json()
    assert clock["offset"] == 0.0


@pytest.mark.parametrize("seconds", ["nan", "NaN", "inf", "-inf", "1e400", "-1", "abc",
                                     str(MAX_ADVANCE_SECONDS + 1)])
def test_advance_refuses_bad_seconds(stripe_client, emulator, seconds):
    response = requests.post(f"{emulator.url}/_emulator/advance", data={"seconds": seconds})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["code"], error["param"]) == ("parameter_invalid_integer", "seconds")
    assert "seconds" in error["message"]
    assert_still_serves(stripe_client, emulator)


@pytest.mark.parametrize("body", ['{"seconds": NaN}', '{"seconds": Infinity}',
                                  '{"seconds": 1e400}', '{"seconds": true}',
                                  '{"seconds": [1]}'])
def test_advance_refuses_bad_json_seconds(stripe_client, emulator, body):
    response = requests.post(f"{emulator.url}/_emulator/advance", data=body,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "seconds"
    assert_still_serves(stripe_client, emulator)


def test_advance_up_to_ten_years_works(emulator):
    before = emulator.now()
    response = requests.post(f"{emulator.url}/_emulator/advance",
                             data={"seconds": MAX_ADVANCE_SECONDS})
    assert response.status_code == 200
    assert response.json()["now"] - before in range(MAX_ADVANCE_SECONDS,
                                                    MAX_ADVANCE_SECONDS + 5)


def test_clock_stops_before_the_year_3000(stripe_client, emulator):
    for _ in range(120):  # ten years a call: the limit is reached within ~98 calls
        response = requests.post(f"{emulator.url}/_emulator/advance",
                                 data={"seconds": MAX_ADVANCE_SECONDS})
        if response.status_code != 200:
            break
    assert response.status_code == 400
    assert "2999" in response.json()["error"]["message"]
    assert requests.get(f"{emulator.url}/").status_code == 200  # dates still print
    stripe_client.v1.customers.create(params={})


def test_refused_advance_is_not_persisted(tmp_path):
    state = tmp_path / "state.json"
    with start_in_thread(state_path=state) as first:
        assert requests.post(f"{first.url}/_emulator/advance",
                             data={"seconds": "nan"}).status_code == 400
        client_for(first).v1.customers.create(params={})
    assert json.loads(state.read_text())["clock_offset"] == 0.0
    with start_in_thread(state_path=state) as second:
        assert_still_serves(client_for(second), second)


def test_state_file_with_a_broken_clock_is_repaired(tmp_path):
    """A file written by an emulator that still accepted NaN (json writes it as NaN)."""
    state = tmp_path / "state.json"
    with start_in_thread(state_path=state) as first:
        customer = client_for(first).v1.customers.create(params={"email": "old@example.com"})
    data = json.loads(state.read_text())
    data["clock_offset"] = float("nan")
    state.write_text(json.dumps(data))
    with start_in_thread(state_path=state) as second:
        client = client_for(second)
        assert client.v1.customers.retrieve(customer.id).email == "old@example.com"
        assert_still_serves(client, second)


@pytest.mark.parametrize("days", ["nan", "inf", "1e400", "-1", "3651", "abc"])
def test_dashboard_clock_shows_the_error(emulator, days):
    response = requests.post(f"{emulator.url}/clock", data={"days": days},
                             allow_redirects=False)
    assert response.status_code == 400
    assert 'role="alert">Days to advance must be a number from 0 to 3650.' in response.text
    assert requests.get(f"{emulator.url}/").status_code == 200
    assert requests.get(f"{emulator.url}/_emulator/clock").json()["offset"] == 0.0


def test_dashboard_clock_advances(emulator):
    before = emulator.now()
    response = requests.post(f"{emulator.url}/clock", data={"days": "2"},
                             allow_redirects=False)
    assert response.status_code == 303
    assert emulator.now() - before >= 2 * DAY


# -- rollback ----------------------------------------------------------------------------------

def _customer(object_id: str) -> dict:
    return {"id": object_id, "object": "customer"}


def test_failed_transaction_rolls_back_and_announces_nothing(tmp_path):
    path = tmp_path / "state.json"
    store = Store(path)
    heard: list[str] = []
    store.listeners.append(lambda event, endpoints: heard.append(event["type"]))
    store.put("customer", _customer("cus_keep"))
    saved = path.read_text()
    with pytest.raises(RuntimeError), store.transaction():
        store.put("customer", _customer("cus_new"))
        store.delete("customer", "cus_keep")
        store.emit("customer.created", _customer("cus_new"))
        store.private["chaos"]["we_x"] = True
        store.data["clock_offset"] = float("nan")
        raise RuntimeError("handler bug")
    assert [c["id"] for c in store.all("customer")] == ["cus_keep"]
    assert store.all("event") == [] and heard == []
    assert store.private["chaos"] == {}
    assert store.data["clock_offset"] == 0.0 and store.now() > 0
    assert path.read_text() == saved  # nothing written for the failed change


def test_savepoint_undoes_only_its_own_part():
    store = Store()
    heard: list[str] = []
    store.listeners.append(lambda event, endpoints: heard.append(event["data"]["object"]["id"]))
    with store.transaction():
        store.put("customer", _customer("cus_outer"))
        store.emit("customer.created", _customer("cus_outer"))
        with pytest.raises(RuntimeError), store.transaction(savepoint=True):
            store.put("customer", _customer("cus_inner"))
            store.emit("customer.created", _customer("cus_inner"))
            raise RuntimeError
    assert [c["id"] for c in store.all("customer")] == ["cus_outer"]
    assert heard == ["cus_outer"]


def test_webhook_done_survives_a_rollback_snapshot():
    """Counting down pending_webhooks must not change the snapshot of an earlier state."""
    store = Store()
    store.put("webhook_endpoint", {"id": "we_1", "status": "enabled", "enabled_events": ["*"]})
    event = store.emit("customer.created", _customer("cus_1"))
    with pytest.raises(RuntimeError), store.transaction():
        store.webhook_done(event["id"])
        raise RuntimeError
    assert store.get("event", event["id"])["pending_webhooks"] == 1
