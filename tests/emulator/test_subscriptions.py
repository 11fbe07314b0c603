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


def test_cancel_at_schedules_on_a_date_clears_and_ends_then(stripe_client, emulator):
    """Stripe's ``cancel_at``: a future time, ``min_period_end``/``max_period_end``, or ""
    to clear; ``cancel_at_period_end`` stays false; the clock ends it at that time."""
    _s, sub = subscribe(stripe_client)
    period_end = sub["items"].data[0].current_period_end
    when = emulator.now() + 3 * DAY

    dated = stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at": when})
    assert (dated.cancel_at, dated.cancel_at_period_end) == (when, False)
    assert dated.cancellation_details.reason == "cancellation_requested"
    event = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert event.data.previous_attributes.cancel_at is None
    at_end = stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at": "min_period_end"})
    assert (at_end.cancel_at, at_end.cancel_at_period_end) == (period_end, False)
    cleared = stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at": ""})
    assert (cleared.cancel_at, cleared.canceled_at, cleared.cancel_at_period_end) == (
        None, None, False)

    stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at": when})
    emulator.advance(3 * DAY + 1)
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", when)
    assert event_types(stripe_client)[-1] == "customer.subscription.deleted"


def test_a_past_due_subscription_ends_at_its_cancel_at(stripe_client, emulator):
    _s, sub = subscribe(stripe_client, FAIL_LATER)
    emulator.advance(sub["items"].data[0].current_period_end - emulator.now() + 60)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    when = emulator.now() + 2 * DAY
    stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at": when})

    emulator.advance(2 * DAY + 1)

    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", when)


@pytest.mark.parametrize(("params", "param", "code"), [
    ({"cancel_at": "1"}, "cancel_at", None),  # in the past
    ({"cancel_at": "soon"}, "cancel_at", "parameter_invalid_integer"),
    ({"cancel_at_period_end": "true", "cancel_at": "min_period_end"}, "cancel_at", None),
    ({"cancel_at_period_ends": "true"}, "cancel_at_period_ends", "parameter_unknown"),
    ({"trial_end": "now"}, "trial_end", None),  # Stripe's, not the emulator's
])
def test_an_update_stripe_or_the_emulator_refuses_changes_nothing(stripe_client, params, param,
                                                                   code):
    _s, sub = subscribe(stripe_client)
    before = stripe_client.v1.subscriptions.retrieve(sub.id).to_dict()

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.update(sub.id, params=params)

    assert refused.value.http_status == 400
    assert (refused.value.param, refused.value.code) == (param, code)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).to_dict() == before


def test_the_update_parameters_are_stripes():
    """The emulator's list of Stripe's update parameters is the pinned SDK's."""
    import typing

    from stripe.params._subscription_update_params import SubscriptionUpdateParams

    from stripe_emulator.resources.subscriptions import STRIPE_UPDATE_PARAMS

    assert set(typing.get_type_hints(SubscriptionUpdateParams)) == STRIPE_UPDATE_PARAMS


def test_invoices_of_a_customer_never_had_are_refused_of_a_deleted_one_listed(stripe_client):
    """As Stripe: "No such customer" (resource_missing, param customer) for an ID it never
    had; a deleted customer's invoices stay listed."""
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.invoices.list(params={"customer": "cus_neverhere"})
    assert (refused.value.http_status, refused.value.code, refused.value.param) == (
        400, "resource_missing", "customer")

    session, _sub = subscribe(stripe_client)
    stripe_client.v1.customers.delete(session.customer)
    listed = stripe_client.v1.invoices.list(params={"customer": session.customer})
    assert len(listed.data) == 1
