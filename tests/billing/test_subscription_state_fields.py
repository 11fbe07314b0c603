"""The state row keeps what the ``subscription`` operation answers, from the events received."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from members.models import MemberGroup
from payments.models import SubscriptionState
from payments.services.webhooks import process_event
from tests.fixtures.billing import make_event, make_subscription

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 1000


@pytest.fixture
def customer(member, stripe_settings):
    MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold")
    member.stripe_customer_id = "cus_unit1"
    member.save()
    return member


def moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_schedule_trial_and_creation_are_stored(customer):
    subscription = make_subscription(status="trialing")
    subscription.update(cancel_at_period_end=True, cancel_at=T0 + 5000, trial_end=T0 + 3000,
                        created=T0 - 100)

    assert process_event(make_event(subscription, created=T0)).result == "processed"

    state = SubscriptionState.objects.get(subscription_id="sub_unit1")
    assert state.status == "trialing"
    assert state.cancel_at_period_end is True
    assert state.cancel_at == moment(T0 + 5000)
    assert state.trial_end == moment(T0 + 3000)
    assert state.created == moment(T0 - 100)


def test_a_later_event_clears_the_schedule(customer):
    scheduled = make_subscription()
    scheduled.update(cancel_at_period_end=True, cancel_at=T0 + 5000)
    process_event(make_event(scheduled, created=T0))
    resumed = make_subscription()
    resumed.update(cancel_at_period_end=False, cancel_at=None)

    process_event(make_event(resumed, created=T0 + 1))

    state = SubscriptionState.objects.get(subscription_id="sub_unit1")
    assert (state.cancel_at_period_end, state.cancel_at) == (False, None)


def test_an_older_event_does_not_bring_the_schedule_back(customer):
    resumed = make_subscription()
    resumed.update(cancel_at_period_end=False, cancel_at=None)
    process_event(make_event(resumed, created=T0 + 10))
    stale = make_subscription()
    stale.update(cancel_at_period_end=True, cancel_at=T0 + 5000)

    process_event(make_event(stale, created=T0))

    state = SubscriptionState.objects.get(subscription_id="sub_unit1")
    assert state.cancel_at_period_end is False
