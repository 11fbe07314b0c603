"""Subscriptions after checkout: update, swap price, cancel; renewals and dunning by the clock."""

from __future__ import annotations

import pytest
import stripe

from .helpers import DAY, FAIL_LATER, event_types, monthly_price, subscribe


def test_list_filters(stripe_client):
    _s, sub = subscribe(stripe_client)
    _s, other = subscribe(stripe_client)  # another customer, another price: filters must drop it
    assert other.customer != sub.customer
    assert other["items"].data[0].price.id != sub["items"].data[0].price.id
    assert len(stripe_client.v1.subscriptions.list().data) == 2
    listed = stripe_client.v1.subscriptions.list(params={"customer": sub.customer})
    assert [s.id for s in listed.data] == [sub.id]
    by_price = stripe_client.v1.subscriptions.list(
        params={"price": sub["items"].data[0].price.id})
    assert [s.id for s in by_price.data] == [sub.id]
    stripe_client.v1.subscriptions.cancel(sub.id)
    assert [s.id for s in stripe_client.v1.subscriptions.list().data] == [other.id]
    assert [s.id for s in stripe_client.v1.subscriptions.list(
        params={"status": "canceled"}).data] == [sub.id]
    assert len(stripe_client.v1.subscriptions.list(params={"status": "all"}).data) == 2


def test_cancel_is_immediate_and_cannot_repeat(stripe_client):
    _s, sub = subscribe(stripe_client)
    canceled = stripe_client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.canceled_at and canceled.ended_at
    assert event_types(stripe_client)[-1] == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError) as again:
        stripe_client.v1.subscriptions.cancel(sub.id)
    assert again.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stripe_client.v1.subscriptions.cancel("sub_unknown")
    assert unknown.value.http_status == 404 and unknown.value.code == "resource_missing"


def test_update_metadata_cancel_at_period_end_and_price_swap(stripe_client, emulator):
    _s, sub = subscribe(stripe_client)
    item = sub["items"].data[0]
    updated = stripe_client.v1.subscriptions.update(sub.id, params={
        "cancel_at_period_end": True, "metadata": {"plan": "gold"}})
    assert updated.cancel_at_period_end and updated.cancel_at == item.current_period_end
    event = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert event.data.previous_attributes.cancel_at_period_end is False
    assert event.data.previous_attributes.metadata.to_dict() == {}
    platinum = monthly_price(stripe_client, amount=3000, name="Platinum")
    swapped = stripe_client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": item.id, "price": platinum.id}]})
    assert swapped["items"].data[0].price.id == platinum.id
    assert swapped["items"].data[0].id == item.id
    event = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert event.data.previous_attributes["items"].data[0].price.id == item.price.id
    # At period end a cancel_at_period_end subscription ends instead of renewing.
    emulator.advance(item.current_period_end - emulator.now() + 1)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at == item.current_period_end
    assert len(stripe_client.v1.invoices.list(params={"subscription": sub.id}).data) == 1


def test_renewal_with_good_card(stripe_client, emulator):
    _s, sub = subscribe(stripe_client)
    first = sub["items"].data[0]
    now = emulator.advance(first.current_period_end - emulator.now() + 60)
    renewed = stripe_client.v1.subscriptions.retrieve(sub.id)
    item = renewed["items"].data[0]
    assert renewed.status == "active"
    assert item.current_period_start == first.current_period_end < now < item.current_period_end
    invoices = stripe_client.v1.invoices.list(params={"subscription": sub.id}).data
    assert [i.status for i in invoices] == ["paid", "paid"]
    assert invoices[0].billing_reason == "subscription_cycle"
    assert invoices[0].lines.data[0].period.start == first.current_period_end
    update = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert update.data.previous_attributes["items"].data[0].current_period_end == \
        first.current_period_end
    assert event_types(stripe_client)[-4:] == [
        "customer.subscription.updated", "invoice.created", "invoice.paid",
        "invoice.payment_succeeded"]
    # Three more months: three more paid invoices, processed in time order.
    emulator.advance(3 * 31 * DAY)
    assert len(stripe_client.v1.invoices.list(params={"subscription": sub.id}).data) == 5


def test_failing_card_goes_past_due_then_unpaid(stripe_client, emulator):
    _s, sub = subscribe(stripe_client, FAIL_LATER)
    end = sub["items"].data[0].current_period_end
    emulator.advance(end - emulator.now() + 60)
    past_due = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert past_due.status == "past_due"
    invoice = stripe_client.v1.invoices.retrieve(past_due.latest_invoice)
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert invoice.next_payment_attempt == invoice.created + 1 * DAY
    assert event_types(stripe_client)[-3:] == [
        "invoice.created", "invoice.payment_failed", "customer.subscription.updated"]
    emulator.advance(2 * DAY)  # retry at +1 day fails; next at +3
    invoice = stripe_client.v1.invoices.retrieve(past_due.latest_invoice)
    assert invoice.attempt_count == 2 and invoice.next_payment_attempt == invoice.created + 3 * DAY
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    emulator.advance(4 * DAY)  # retries at +3 and +5 days fail: unpaid
    unpaid = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert unpaid.status == "unpaid"
    invoice = stripe_client.v1.invoices.retrieve(past_due.latest_invoice)
    assert invoice.attempt_count == 4 and invoice.next_payment_attempt is None
    failures = stripe_client.v1.events.list(params={"type": "invoice.payment_failed"}).data
    assert len(failures) == 4
    last_update = stripe_client.v1.events.list(
        params={"type": "customer.subscription.updated"}).data[0]
    assert last_update.data.object.status == "unpaid"
    assert last_update.data.previous_attributes.status == "past_due"


def test_trial_converts_to_active_or_past_due(stripe_client, emulator):
    _s, good = subscribe(stripe_client, subscription_data={"trial_period_days": 7})
    _s, bad = subscribe(stripe_client, FAIL_LATER, subscription_data={"trial_period_days": 7})
    emulator.advance(7 * DAY + 60)
    good = stripe_client.v1.subscriptions.retrieve(good.id)
    bad = stripe_client.v1.subscriptions.retrieve(bad.id)
    assert good.status == "active" and bad.status == "past_due"
    paid = stripe_client.v1.invoices.retrieve(good.latest_invoice)
    assert paid.status == "paid" and paid.amount_paid == 1000
    assert good["items"].data[0].current_period_start == good.trial_end
