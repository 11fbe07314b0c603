"""The API resources through the official SDK: CRUD, lists, expand, errors, auth, idempotency."""

from __future__ import annotations

import base64

import pytest
import requests
import stripe

from .helpers import monthly_price


def test_account_and_balance(stripe_client):
    account = stripe_client.v1.accounts.retrieve_current()
    assert account.id.startswith("acct_") and account.object == "account"
    balance = stripe_client.v1.balance.retrieve()
    assert balance.object == "balance" and balance.available[0].amount == 0


def test_customer_crud_and_list_by_email(stripe_client):
    c1 = stripe_client.v1.customers.create(params={"email": "a@example.com", "name": "A",
                                                   "metadata": {"member_id": "7"}})
    assert c1.id.startswith("cus_") and c1.metadata["member_id"] == "7"
    stripe_client.v1.customers.create(params={"email": "b@example.com"})
    updated = stripe_client.v1.customers.update(
        c1.id, params={"name": "Alice", "metadata": {"member_id": "", "tier": "gold"}})
    assert updated.name == "Alice" and updated.metadata.to_dict() == {"tier": "gold"}
    assert stripe_client.v1.customers.retrieve(c1.id).name == "Alice"
    found = stripe_client.v1.customers.list(params={"email": "b@example.com"})
    assert [c.email for c in found.data] == ["b@example.com"]
    deleted = stripe_client.v1.customers.delete(c1.id)
    assert deleted.deleted is True and deleted.id == c1.id
    assert stripe_client.v1.customers.retrieve(c1.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.update(c1.id, params={"name": "x"})


def test_lists_are_newest_first_and_paginate(stripe_client):
    ids = [stripe_client.v1.customers.create(params={"name": str(i)}).id for i in range(5)]
    page1 = stripe_client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in page1.data] == ids[::-1][:2] and page1.has_more
    assert page1.url == "/v1/customers"
    page2 = stripe_client.v1.customers.list(params={"limit": 2,
                                                    "starting_after": page1.data[-1].id})
    assert [c.id for c in page2.data] == ids[::-1][2:4]
    back = stripe_client.v1.customers.list(params={"limit": 2,
                                                   "ending_before": page2.data[0].id})
    assert [c.id for c in back.data] == ids[::-1][:2]
    everything = [c.id for c in stripe_client.v1.customers.list(
        params={"limit": 2}).auto_paging_iter()]
    assert everything == ids[::-1]


def test_products_and_prices(stripe_client):
    product = stripe_client.v1.products.create(params={"name": "Silver",
                                                       "description": "Monthly plan"})
    assert product.id.startswith("prod_") and product.active
    product = stripe_client.v1.products.update(product.id, params={"name": "Silver+"})
    assert stripe_client.v1.products.retrieve(product.id).name == "Silver+"
    monthly = stripe_client.v1.prices.create(params={
        "product": product.id, "currency": "JPY", "unit_amount": 500,
        "recurring": {"interval": "month", "interval_count": 3}, "nickname": "quarterly"})
    assert monthly.id.startswith("price_") and monthly.type == "recurring"
    assert monthly.currency == "jpy" and monthly.recurring.interval_count == 3
    once = stripe_client.v1.prices.create(params={"product": product.id, "currency": "jpy",
                                                  "unit_amount": 3000})
    assert once.type == "one_time" and once.recurring is None
    listed = stripe_client.v1.prices.list(params={"product": product.id, "type": "recurring"})
    assert [p.id for p in listed.data] == [monthly.id]
    off = stripe_client.v1.prices.update(once.id, params={"active": False,
                                                          "metadata": {"k": "v"}})
    assert off.active is False and off.metadata["k"] == "v"
    assert [p.id for p in stripe_client.v1.prices.list(
        params={"product": product.id, "active": True}).data] == [monthly.id]
    assert len(stripe_client.v1.products.list().data) == 1


def test_expand_inlines_objects(stripe_client):
    price = monthly_price(stripe_client)
    expanded = stripe_client.v1.prices.retrieve(price.id, params={"expand": ["product"]})
    assert expanded.product.object == "product" and expanded.product.name == "Gold"
    listed = stripe_client.v1.prices.list(params={"expand": ["data.product"]})
    assert listed.data[0].product.name == "Gold"
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        stripe_client.v1.prices.retrieve(price.id, params={"expand": ["nope"]})


def test_error_shapes_and_statuses(stripe_client, emulator):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.customers.retrieve("cus_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    assert "No such customer: 'cus_nope'" in str(missing.value)
    with pytest.raises(stripe.InvalidRequestError) as no_name:
        stripe_client.v1.products.create(params={})
    assert no_name.value.code == "parameter_missing" and no_name.value.param == "name"
    with pytest.raises(stripe.InvalidRequestError) as bad_int:
        stripe_client.v1.prices.create(params={"currency": "jpy", "unit_amount": "ten",
                                               "product_data": {"name": "x"}})
    assert bad_int.value.code == "parameter_invalid_integer"
    assert bad_int.value.param == "unit_amount" and bad_int.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as empty:
        stripe_client.v1.products.create(params={"name": ""})
    assert empty.value.code == "parameter_invalid_empty"
    response = requests.get(f"{emulator.url}/v1/nothing_here",
                            headers={"Authorization": f"Bearer {emulator.secret_key}"})
    body = response.json()
    assert response.status_code == 404 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nothing_here)")
    assert response.headers["Request-Id"].startswith("req_")


@pytest.mark.parametrize(("key", "expected"), [
    (None, "You did not provide an API key"),
    ("sk_test_someoneelse0000000000000000000000000000", "Invalid API Key provided: sk_test_"),
    ("publishable", "cannot be made with a publishable API key"),
])
def test_auth_errors(emulator, key, expected):
    headers = {}
    if key == "publishable":
        key = emulator.publishable_key
    if key:
        headers["Authorization"] = f"Bearer {key}"
    response = requests.get(f"{emulator.url}/v1/customers", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and expected in error["message"]
    if key:
        client = stripe.StripeClient(key, base_addresses={"api": emulator.url},
                                     max_network_retries=0)
        with pytest.raises(stripe.AuthenticationError):
            client.v1.customers.list()


def test_unknown_key_is_redacted_and_basic_auth_works(emulator):
    bad = "sk_test_thisisnottherightkey1234"
    response = requests.get(f"{emulator.url}/v1/customers", auth=(bad, ""))
    assert bad not in response.json()["error"]["message"]
    assert response.json()["error"]["message"].endswith("1234")
    token = base64.b64encode(f"{emulator.secret_key}:".encode()).decode()
    ok = requests.get(f"{emulator.url}/v1/customers", headers={"Authorization": f"Basic {token}"})
    assert ok.status_code == 200 and ok.json()["object"] == "list"


def test_idempotency_replays_and_conflicts(stripe_client, emulator):
    options = {"idempotency_key": "signup-42"}
    first = stripe_client.v1.customers.create(params={"email": "i@example.com"},
                                              options=options)
    again = stripe_client.v1.customers.create(params={"email": "i@example.com"},
                                              options=options)
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(stripe_client.v1.customers.list().data) == 1
    with pytest.raises(stripe.IdempotencyError) as conflict:
        stripe_client.v1.customers.create(params={"email": "other@example.com"},
                                          options=options)
    assert conflict.value.http_status == 400
    assert "same parameters" in str(conflict.value)
    # The same key on another endpoint is refused too.
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.products.create(params={"name": "x"}, options=options)


def test_idempotency_keys_expire_after_24h(stripe_client, emulator):
    options = {"idempotency_key": "short-lived"}
    first = stripe_client.v1.customers.create(params={"email": "e@example.com"},
                                              options=options)
    emulator.advance(24 * 3600 + 1)
    second = stripe_client.v1.customers.create(params={"email": "e@example.com"},
                                               options=options)
    assert second.id != first.id


def test_webhook_endpoint_secret_only_on_create(stripe_client):
    created = stripe_client.v1.webhook_endpoints.create(params={
        "url": "http://127.0.0.1:9/hook", "enabled_events": ["invoice.paid"],
        "description": "app"})
    assert created.id.startswith("we_") and created.secret.startswith("whsec_")
    fetched = stripe_client.v1.webhook_endpoints.retrieve(created.id)
    assert "secret" not in fetched.to_dict() and fetched.description == "app"
    updated = stripe_client.v1.webhook_endpoints.update(created.id, params={
        "disabled": True, "enabled_events": ["*"], "url": "http://127.0.0.1:9/other"})
    assert updated.status == "disabled" and updated.enabled_events == ["*"]
    assert len(stripe_client.v1.webhook_endpoints.list().data) == 1
    assert stripe_client.v1.webhook_endpoints.delete(created.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.webhook_endpoints.retrieve(created.id)
    with pytest.raises(stripe.InvalidRequestError) as bad:
        stripe_client.v1.webhook_endpoints.create(params={"url": "ftp://x",
                                                          "enabled_events": ["*"]})
    assert bad.value.param == "url"


def test_events_filters(stripe_client, emulator):
    stripe_client.v1.customers.create(params={"email": "ev@example.com"})
    before = emulator.now()
    emulator.advance(100)
    product = stripe_client.v1.products.create(params={"name": "P"})
    events = stripe_client.v1.events.list(params={"type": "customer.*"})
    assert [e.type for e in events.data] == ["customer.created"]
    event = stripe_client.v1.events.retrieve(events.data[0].id)
    assert event.data.object.email == "ev@example.com"
    assert event.api_version == "2026-10-28.endive" and event.request.id.startswith("req_")
    later = stripe_client.v1.events.list(params={"created": {"gt": before}})
    assert [e.data.object.id for e in later.data] == [product.id]
    earlier = stripe_client.v1.events.list(params={"created": {"lte": before}})
    assert [e.type for e in earlier.data] == ["customer.created"]
    updated = stripe_client.v1.customers.update(events.data[0].data.object.id,
                                                params={"name": "New"})
    update_event = stripe_client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert update_event.data.previous_attributes.to_dict() == {"name": None}
    assert update_event.data.object.name == updated.name
