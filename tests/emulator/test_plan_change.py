"""subscriptions.update: swapping a price, prorations, payment failures, period-end cancel."""

from __future__ import annotations

import pytest
import stripe

from .helpers import DAY, FAIL_LATER, monthly_price, pay, subscription_session


def _subscribe(client, price, card="4242 4242 4242 4242"):
    session = subscription_session(client, price.id)
    assert pay(session.url, card).status_code == 303
    session = client.v1.checkout.sessions.retrieve(session.id)
    return client.v1.subscriptions.retrieve(session.subscription)


def _swap(client, sub, price, **extra):
    return client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": sub["items"].data[0].id, "price": price.id}], **extra})


def _updated_events(client, sub_id):
    events = client.v1.events.list(params={"type": "customer.subscription.updated"}).data
    return [e for e in events if e.data.object.id == sub_id]


def test_swap_keeps_the_item_and_reports_the_previous_items(emulator, stripe_client):
    gold, silver = monthly_price(stripe_client, 1000, "Gold"), monthly_price(stripe_client, 500)
    sub = _subscribe(stripe_client, gold)
    item_id = sub["items"].data[0].id
    updated = _swap(stripe_client, sub, silver, proration_behavior="none")
    assert updated["items"].data[0].id == item_id
    assert updated["items"].data[0].price.id == silver.id
    event = _updated_events(stripe_client, sub.id)[0]
    previous = event.data.previous_attributes
    assert previous["items"]["data"][0]["price"]["id"] == gold.id
    invoices = stripe_client.v1.invoices.list(params={"subscription": sub.id}).data
    assert len(invoices) == 1  # `none`: nothing billed now


def test_create_prorations_bills_the_difference_at_renewal(emulator, stripe_client):
    gold, silver = monthly_price(stripe_client, 3000, "Gold"), monthly_price(stripe_client, 1000)
    sub = _subscribe(stripe_client, silver)
    start, end = sub["items"].data[0].current_period_start, sub["items"].data[0].current_period_end
    emulator.advance((end - start) // 2)
    _swap(stripe_client, sub, gold)
    assert len(stripe_client.v1.invoices.list(params={"subscription": sub.id}).data) == 1
    emulator.advance(end - emulator.now() + 60)
    renewal = stripe_client.v1.invoices.list(params={"subscription": sub.id}).data[0]
    prorations = [line for line in renewal.lines.data
                  if line.parent.subscription_item_details.proration]
    assert [line.amount < 0 for line in prorations] == [True, False]
    assert 900 <= sum(line.amount for line in prorations) <= 1100  # half of 3000 - 1000
    assert renewal.amount_paid == renewal.total == 3000 + sum(p.amount for p in prorations)


def test_always_invoice_charges_at_once(emulator, stripe_client):
    gold, silver = monthly_price(stripe_client, 3000, "Gold"), monthly_price(stripe_client, 1000)
    sub = _subscribe(stripe_client, silver)
    updated = _swap(stripe_client, sub, gold, proration_behavior="always_invoice")
    invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
    assert invoice.billing_reason == "subscription_update"
    assert invoice.status == "paid" and 1900 <= invoice.amount_paid <= 2000


def test_error_if_incomplete_refuses_a_failed_payment_and_changes_nothing(emulator,
                                                                         stripe_client):
    gold, silver = monthly_price(stripe_client, 3000, "Gold"), monthly_price(stripe_client, 1000)
    sub = _subscribe(stripe_client, silver, FAIL_LATER)
    before = len(stripe_client.v1.events.list(params={"limit": 100}).data)
    with pytest.raises(stripe.CardError) as caught:
        _swap(stripe_client, sub, gold, proration_behavior="always_invoice",
              payment_behavior="error_if_incomplete")
    assert caught.value.code == "card_declined"
    again = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert again["items"].data[0].price.id == silver.id and again.status == "active"
    assert len(stripe_client.v1.invoices.list(params={"subscription": sub.id}).data) == 1
    assert len(stripe_client.v1.events.list(params={"limit": 100}).data) == before


def test_allow_incomplete_keeps_the_change_and_goes_past_due(emulator, stripe_client):
    gold, silver = monthly_price(stripe_client, 3000, "Gold"), monthly_price(stripe_client, 1000)
    sub = _subscribe(stripe_client, silver, FAIL_LATER)
    updated = _swap(stripe_client, sub, gold, proration_behavior="always_invoice")
    assert updated.status == "past_due"
    assert stripe_client.v1.invoices.retrieve(updated.latest_invoice).status == "open"


def test_a_new_interval_restarts_the_period_and_bills_now(emulator, stripe_client):
    monthly = monthly_price(stripe_client, 1000, "Monthly")
    yearly = monthly_price(stripe_client, 10000, "Yearly", interval="year")
    sub = _subscribe(stripe_client, monthly)
    emulator.advance(10 * DAY)
    updated = _swap(stripe_client, sub, yearly)
    item = updated["items"].data[0]
    assert item.current_period_end - item.current_period_start >= 365 * DAY
    invoice = stripe_client.v1.invoices.retrieve(updated.latest_invoice)
    assert invoice.status == "paid" and 9000 < invoice.amount_paid < 10000  # minus credit


def test_bad_values_are_refused(emulator, stripe_client):
    price = monthly_price(stripe_client)
    sub = _subscribe(stripe_client, price)
    for params in ({"proration_behavior": "sometimes"}, {"payment_behavior": "maybe"},
                   {"payment_behavior": "pending_if_incomplete"},
                   {"default_payment_method": "pm_nope"}):
        with pytest.raises(stripe.InvalidRequestError):
            stripe_client.v1.subscriptions.update(sub.id, params=params)


def test_cancel_at_period_end_and_the_clock(emulator, stripe_client):
    price = monthly_price(stripe_client)
    sub = _subscribe(stripe_client, price)
    end = sub["items"].data[0].current_period_end
    updated = stripe_client.v1.subscriptions.update(sub.id,
                                                    params={"cancel_at_period_end": True})
    assert updated.cancel_at == end and updated.status == "active"
    event = _updated_events(stripe_client, sub.id)[0]
    assert event.data.previous_attributes["cancel_at_period_end"] is False
    resumed = stripe_client.v1.subscriptions.update(sub.id,
                                                    params={"cancel_at_period_end": False})
    assert resumed.cancel_at is None
    stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    emulator.advance(end - emulator.now() - 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    emulator.advance(120)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == end
    deleted = stripe_client.v1.events.list(params={"type": "customer.subscription.deleted"})
    assert [e.data.object.id for e in deleted.data] == [sub.id]
    assert len(stripe_client.v1.invoices.list(params={"subscription": sub.id}).data) == 1
