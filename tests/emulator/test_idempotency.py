"""Idempotency as Stripe does it: a 500 after execution began is saved and replayed; a
request that never reached execution (injected before it: 500, 429, connection drop) is not."""

from __future__ import annotations

import pytest
import requests
import stripe


def fault(emulator, **data):
    response = requests.post(f"{emulator.url}/_emulator/faults", data=data)
    assert response.status_code == 200, response.text
    return response


def create_customer(emulator, key: str, name: str = "A") -> requests.Response:
    return requests.post(f"{emulator.url}/v1/customers", data={"name": name}, timeout=10,
                         headers={"Authorization": f"Bearer {emulator.secret_key}",
                                  "Idempotency-Key": key})


def customers(stripe_client) -> list:
    return stripe_client.v1.customers.list(params={"limit": 100}).data


def test_a_500_during_execution_is_saved_and_replayed(emulator, stripe_client):
    fault(emulator, path="/v1/customers", method="POST", mode="500", stage="during")
    first = create_customer(emulator, "key-1")
    assert first.status_code == 500
    assert first.json()["error"]["type"] == "api_error"
    assert first.headers["Stripe-Should-Retry"] == "false"
    again = create_customer(emulator, "key-1")
    assert again.status_code == 500
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert customers(stripe_client) == []  # nothing was made, and the key stays "failed"
    # A new key executes afresh.
    assert create_customer(emulator, "key-2").status_code == 200
    assert len(customers(stripe_client)) == 1


def test_the_sdk_sees_the_replayed_500_as_an_api_error(emulator, stripe_client):
    fault(emulator, path="/v1/customers", mode="500", stage="during")
    for _ in range(2):
        with pytest.raises(stripe.APIError) as info:
            stripe_client.v1.customers.create(params={"name": "A"},
                                              options={"idempotency_key": "sdk-key"})
        assert info.value.http_status == 500
    assert customers(stripe_client) == []


@pytest.mark.parametrize("mode", ["500", "429", "drop"])
def test_a_fault_before_execution_is_not_saved(emulator, stripe_client, mode):
    fault(emulator, path="/v1/customers", method="POST", mode=mode)  # stage "before"
    with pytest.raises(requests.RequestException if mode == "drop" else AssertionError):
        response = create_customer(emulator, "key-b")
        assert response.status_code == 200
    retry = create_customer(emulator, "key-b")
    assert retry.status_code == 200, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert len(customers(stripe_client)) == 1


def test_a_drop_during_execution_did_the_work_and_the_same_key_gets_its_result(
        emulator, stripe_client):
    fault(emulator, path="/v1/customers", method="POST", mode="drop", stage="during")
    with pytest.raises(requests.RequestException):
        create_customer(emulator, "key-d")
    retry = create_customer(emulator, "key-d")
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert [c.id for c in customers(stripe_client)] == [retry.json()["id"]]


def test_a_replayed_request_does_not_use_up_a_fault(emulator, stripe_client):
    assert create_customer(emulator, "key-r").status_code == 200
    fault(emulator, path="/v1/customers", method="POST", mode="500", stage="during")
    assert create_customer(emulator, "key-r").status_code == 200  # replayed, not executed
    assert create_customer(emulator, "key-s").status_code == 500  # the fault hits this one


def test_validation_errors_are_still_not_saved(emulator):
    bad = requests.post(f"{emulator.url}/v1/prices", data={"currency": "jpy"},
                        headers={"Authorization": f"Bearer {emulator.secret_key}",
                                 "Idempotency-Key": "key-v"})
    assert bad.status_code == 400
    good = requests.post(f"{emulator.url}/v1/prices", data={
        "currency": "jpy", "unit_amount": "100", "product_data[name]": "X"},
        headers={"Authorization": f"Bearer {emulator.secret_key}", "Idempotency-Key": "key-v"})
    # Nothing was saved under the key, so other parameters are not an idempotency_error.
    assert good.status_code == 200, good.text


@pytest.mark.parametrize("data", [{"stage": "later"}, {"stage": "during", "mode": "429"}])
def test_bad_fault_stages_are_refused(emulator, data):
    response = requests.post(f"{emulator.url}/_emulator/faults",
                             data={"path": "/v1/customers", "mode": "500", **data})
    assert response.status_code == 400
    assert response.json()["error"]["param"] in ("stage", "mode")


def test_idempotency_keys_are_at_most_255_characters(emulator, stripe_client):
    assert create_customer(emulator, "k" * 255).status_code == 200
    response = create_customer(emulator, "k" * 256)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "idempotency_error"
    assert len(customers(stripe_client)) == 1
