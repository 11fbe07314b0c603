"""The member's own subscription, checked against Stripe, and changes to it recorded as intents.

Shared by plan changes and cancellation schedules (docs/billing.md, "Self-service").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import IntegrityError
from django.utils import timezone

from members.models import Member

from .. import gateway
from ..models import SubscriptionChange, SubscriptionState
from .grants import GRANTING_STATUSES

NO_SUBSCRIPTION = "You have no subscription."
ENDED = "Your subscription has ended."


class Refused(Exception):
    """The member's request cannot be done; ``code`` and ``status`` are the API's."""

    def __init__(self, code: str, message: str, *, status: int, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.field = field


def conflict(message: str) -> Refused:
    return Refused("conflict", message, status=409)


# Deleted by an administrator while their request ran (checkout answers the same).
MEMBER_GONE = "Your account no longer exists."


def member_gone() -> Refused:
    return Refused("unauthorized", MEMBER_GONE, status=401)


def held_subscription_id(member: Member) -> str:
    """The subscription stored on the member, read afresh: the only one they may act on."""
    subscription_id = Member.objects.filter(pk=member.pk).values_list(
        "stripe_subscription_id", flat=True).first()
    if not subscription_id:
        raise conflict(NO_SUBSCRIPTION)
    return subscription_id


def stored_state(subscription_id: str) -> SubscriptionState | None:
    return SubscriptionState.objects.filter(subscription_id=subscription_id).first()


def live_subscription(member: Member, subscription_id: str) -> dict:
    """Stripe's current subscription, when it is the member's and still live.

    Asked outside any transaction. A subscription of another customer is
    refused as though it were not there.
    """
    try:
        subscription = gateway.retrieve_subscription(subscription_id, member_id=member.pk)
    except gateway.StripeInvalidRequest as exc:
        if exc.is_missing:
            raise conflict(ENDED) from None
        raise
    customer = subscription.get("customer")
    customer = customer.get("id") if isinstance(customer, dict) else customer
    if member.stripe_customer_id and customer != member.stripe_customer_id:
        raise conflict(NO_SUBSCRIPTION)
    if subscription.get("status") not in GRANTING_STATUSES:
        raise conflict(ENDED)
    return subscription


@dataclass
class Applied:
    subscription: dict  # as Stripe answered
    change: SubscriptionChange | None = None  # None: nothing had to change


def record_change(member: Member, subscription_id: str, action: str, params: dict,
                  requested_by: Member | None = None) -> SubscriptionChange:
    """The intent, committed before Stripe is asked (autocommit: no transaction is open)."""
    try:
        return SubscriptionChange.objects.create(
            member=member, subscription_id=subscription_id, action=action, params=params,
            key=f"kb-subchange-{uuid.uuid4().hex}", requested_by=requested_by,
        )
    except IntegrityError:
        if Member.objects.filter(pk=member.pk).exists():
            raise
        raise member_gone() from None


def send_change(change: SubscriptionChange) -> Applied:
    """One ``subscriptions.update`` with the intent's key; the outcome is recorded on it.

    A declined card (402) becomes ``payment_failed``: Stripe changed nothing
    (``payment_behavior=error_if_incomplete``).
    """
    try:
        subscription = gateway.update_subscription(
            change.subscription_id, change.params, idempotency_key=change.key,
            member_id=change.member_id)
    except gateway.StripeError as exc:
        # Refused: nothing was done. Unavailable (5xx, timeout, dropped connection): Stripe
        # may have done it, so the row stays pending; the next event or a retry tells.
        refused = isinstance(exc, gateway.StripeInvalidRequest)
        _finish(change, SubscriptionChange.Status.FAILED if refused
                else SubscriptionChange.Status.PENDING, exc.message)
        if refused and exc.http_status == 402:
            raise Refused(
                "payment_failed",
                f"The payment failed: {exc.message} Nothing was changed.",
                status=402,
            ) from None
        if refused and _ended_meanwhile(change):
            raise conflict(ENDED) from None
        raise
    _finish(change, SubscriptionChange.Status.DONE)
    return Applied(subscription, change)


def _ended_meanwhile(change: SubscriptionChange) -> bool:
    """After a refusal: whether the subscription ended since it was read (canceled in
    Stripe's dashboard, say), which is why Stripe refused; read again to tell."""
    try:
        subscription = gateway.retrieve_subscription(change.subscription_id,
                                                     member_id=change.member_id)
    except gateway.StripeInvalidRequest as exc:
        return exc.is_missing
    except gateway.StripeError:
        return False  # the refusal stands as it was
    return subscription.get("status") not in GRANTING_STATUSES


def forget_customer(member_id: int, customer_id: str) -> None:
    """Stripe no longer knows the member's customer (deleted in its dashboard): unlink
    it, unless it changed meanwhile. The next checkout makes a new one."""
    Member.objects.filter(pk=member_id, stripe_customer_id=customer_id).update(
        stripe_customer_id=None)


def customer_gone(exc: gateway.StripeInvalidRequest) -> bool:
    return exc.is_missing and exc.param == "customer"


def _finish(change: SubscriptionChange, status: str, error: str = "") -> None:
    change.status, change.error = status, error
    change.updated_at = timezone.now()
    updated = SubscriptionChange.objects.filter(pk=change.pk).update(
        status=status, error=error, updated_at=change.updated_at)
    if not updated:  # deleted with its member while Stripe was asked
        raise member_gone()
