"""A member deleted by an administrator while their own self-service request asks Stripe:
an answer in the envelope (401, as checkout gives), never a 500."""

from __future__ import annotations

import pytest

from members.models import Member

from . import subscribers
from .emulator_requests import watch

pytestmark = pytest.mark.django_db(transaction=True)

# The shared fixtures, by name (tests/billing/subscribers.py).
shopper, silver, subscribe = subscribers.shopper, subscribers.silver, subscribers.subscribe


@pytest.fixture
def self_service_api(checkout_api, stripe_enabled, basic_price, silver):
    from kuroco_billing.rcms_api.models import Endpoint

    offered = [basic_price[0], silver[0]]
    Endpoint.objects.create(api=checkout_api, path="stripe/change_plan",
                            operation="change_plan", parameters={"products_list": offered})
    Endpoint.objects.create(api=checkout_api, path="stripe/cancel_at_period_end",
                            operation="cancel_order", parameters={"at_period_end": True})
    return checkout_api


@pytest.mark.parametrize(("path", "method", "stripe_path"), [
    ("stripe/cancel", "DELETE", "/v1/subscriptions/"),
    ("stripe/change_plan", "POST", "/v1/subscriptions/"),
    ("stripe/cancel_at_period_end", "POST", "/v1/subscriptions/"),
])
def test_a_member_deleted_while_their_request_asks_stripe_is_not_a_500(
        emulator, stripe_enabled, self_service_api, shopper, member, silver, path, method,
        stripe_path):
    member = subscribe(stripe_enabled, shopper, member)
    watch(emulator).on(method, stripe_path, "before",
                       lambda: Member.objects.filter(pk=member.pk).delete())

    response = shopper.post(path, {"price_id": silver[0]} if "change_plan" in path else {})

    assert not Member.objects.filter(pk=member.pk).exists()
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["message"] == "Your account no longer exists."


def test_an_admins_cancel_now_of_a_member_deleted_meanwhile_says_so(
        emulator, stripe_enabled, shopper, member, admin_user):
    from payments.services.admin_billing import run_action

    member = subscribe(stripe_enabled, shopper, member)
    watch(emulator).on("DELETE", "/v1/subscriptions/", "before",
                       lambda: Member.objects.filter(pk=member.pk).delete())

    succeeded, message = run_action("cancel_now", member, admin_user)

    assert (succeeded, message) == (
        False, "Cancel now: The member no longer exists; Stripe canceled the subscription.")


def test_an_admins_schedule_of_a_member_deleted_meanwhile_says_so_in_the_admins_words(
        emulator, stripe_enabled, shopper, member, admin_user):
    from payments.services.admin_billing import run_action

    member = subscribe(stripe_enabled, shopper, member)
    watch(emulator).on("POST", "/v1/subscriptions/", "before",
                       lambda: Member.objects.filter(pk=member.pk).delete())

    assert run_action("cancel_at_period_end", member, admin_user) == (
        False, "Cancel at period end: the member no longer exists.")
