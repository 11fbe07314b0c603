"""A signed-in member who subscribes through the real checkout, for tests that race
something against their subscription."""

from __future__ import annotations

import pytest

from members.models import Member, MemberGroup
from tests.fixtures.accounts import MEMBER_PASSWORD
from tests.fixtures.billing import create_recurring_price, pay, wait_for

from .test_checkout_flow import ApiClient


@pytest.fixture
def shopper(stripe_enabled, checkout_api, member):
    return ApiClient(stripe_enabled.site_url, checkout_api).login(member.email, MEMBER_PASSWORD)


@pytest.fixture
def silver(stripe_enabled):
    price_id = create_recurring_price(stripe_enabled.client, amount=500, name="Silver plan")
    return price_id, MemberGroup.objects.create(name="Silver", stripe_price_id=price_id)


def subscribe(stripe_enabled, shopper, member) -> Member:
    """Check out, pay and let the webhook grant it: the member as stored then."""
    response = shopper.checkout()
    assert response.status_code == 200, response.text
    assert pay(response.json()["url"], "4242424242424242").status_code == 303
    stripe_enabled.drain()
    assert wait_for(lambda: Member.objects.get(pk=member.pk).stripe_subscription_id)
    return Member.objects.get(pk=member.pk)
