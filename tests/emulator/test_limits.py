"""Stripe's documented limits: metadata, amounts, string lengths (a 400 naming the param)."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.limits import MAX_AMOUNT


def refused(call, param: str) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as info:
        call()
    assert info.value.http_status == 400
    assert info.value.param == param, info.value.user_message
    return info.value


def price(client, amount, **extra):
    return client.v1.prices.create(params={
        "currency": "jpy", "unit_amount": amount, "recurring": {"interval": "month"},
        "product_data": {"name": "Gold"}, **extra})


def test_unit_amount_is_an_integer_from_0_to_99999999(stripe_client):
    assert price(stripe_client, MAX_AMOUNT).unit_amount == MAX_AMOUNT
    assert price(stripe_client, 0).unit_amount == 0
    for amount in (MAX_AMOUNT + 1, 10**32, -1):
        refused(lambda a=amount: price(stripe_client, a), "unit_amount")
    refused(lambda: price(stripe_client, "1" * 5000), "unit_amount")
    assert len(stripe_client.v1.prices.list().data) == 2


def test_price_data_in_a_checkout_session_has_the_same_bound(stripe_client):
    refused(lambda: stripe_client.v1.checkout.sessions.create(params={
        "mode": "subscription", "success_url": "http://127.0.0.1:9/ok",
        "customer_email": "a@example.com",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "jpy", "unit_amount": 10**32, "recurring": {"interval": "month"},
            "product_data": {"name": "X"}}}]}), "line_items[0][price_data][unit_amount]")


def test_a_2_mb_customer_name_is_refused(stripe_client):
    refused(lambda: stripe_client.v1.customers.create(
        params={"name": "x" * (2 * 1024 * 1024)}), "name")
    assert stripe_client.v1.customers.list().data == []


def test_strings_are_at_most_5000_characters(stripe_client):
    assert len(stripe_client.v1.customers.create(params={"name": "n" * 5000}).name) == 5000
    error = refused(lambda: stripe_client.v1.customers.create(params={"name": "n" * 5001}),
                    "name")
    assert "must be at most 5000 characters" in error.user_message
    refused(lambda: stripe_client.v1.products.create(
        params={"name": "P", "description": "d" * 5001}), "description")


def test_metadata_limits(stripe_client):
    fifty = {f"k{i}": "v" for i in range(50)}
    customer = stripe_client.v1.customers.create(params={"metadata": fifty})
    assert len(customer.metadata.to_dict()) == 50
    # The limit is on the object: a 51st key through an update is refused too.
    refused(lambda: stripe_client.v1.customers.update(
        customer.id, params={"metadata": {"one_more": "v"}}), "metadata")
    refused(lambda: stripe_client.v1.customers.create(
        params={"metadata": {f"k{i}": "v" for i in range(51)}}), "metadata")
    refused(lambda: stripe_client.v1.customers.create(
        params={"metadata": {"k" * 41: "v"}}), "metadata[" + "k" * 41 + "]")
    refused(lambda: stripe_client.v1.customers.create(
        params={"metadata": {"k": "v" * 501}}), "metadata[k]")
    ok = stripe_client.v1.customers.create(params={"metadata": {"k" * 40: "v" * 500}})
    assert ok.metadata["k" * 40] == "v" * 500
    assert len(stripe_client.v1.customers.list().data) == 2


def test_nested_metadata_is_checked_under_its_own_name(stripe_client):
    refused(lambda: stripe_client.v1.checkout.sessions.create(params={
        "mode": "subscription", "success_url": "http://127.0.0.1:9/ok",
        "customer_email": "a@example.com",
        "line_items": [{"price": price(stripe_client, 100).id, "quantity": 1}],
        "subscription_data": {"metadata": {"k": "v" * 501}}}),
        "subscription_data[metadata][k]")
