"""Cancel the member's own subscription, at once: one Stripe call, then re-lock and apply."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from members.models import Member

from .. import gateway
from . import sync


class NoSubscription(Exception):
    """The member has no subscription to cancel."""


class MemberGone(Exception):
    """The member was deleted while Stripe canceled their subscription."""


@dataclass
class CancelResult:
    subscription_id: str
    changes: list[str] = field(default_factory=list)
    already_gone: bool = False


def cancel_subscription(member: Member) -> CancelResult:
    """Cancel in Stripe outside any transaction, then unlink locally with the member locked.

    Only the subscription ID stored on the member is ever used, so a member can
    only cancel their own. If Stripe fails, nothing changes here. If Stripe's
    state says the subscription is already canceled or gone, it is unlinked
    locally all the same.
    """
    subscription_id = Member.objects.filter(pk=member.pk).values_list(
        "stripe_subscription_id", flat=True).first()
    if not subscription_id:
        raise NoSubscription
    snapshot, already_gone = _cancel_in_stripe(subscription_id, member)
    with transaction.atomic():
        try:
            member = sync.lock_member(member.pk)
        except Member.DoesNotExist:
            # Deleted by an administrator while Stripe was asked: nothing left to unlink.
            raise MemberGone from None
        state = sync.lock_state(subscription_id)
        # Deletion only revokes: nothing here asks Stripe.
        result = sync.apply_snapshot(member, state, snapshot, deleted=True)
        state.save()
    return CancelResult(subscription_id, result.changes, already_gone)


def _cancel_in_stripe(subscription_id: str, member: Member) -> tuple[dict, bool]:
    """``(the canceled subscription, whether it was canceled or gone already)``."""
    try:
        return gateway.cancel_subscription(subscription_id, member_id=member.pk), False
    except gateway.StripeInvalidRequest as refused:
        if refused.is_missing:
            return _gone(subscription_id, member), True
        current = already_ended(subscription_id, member)
        if current is None:
            raise
        return current, True


def already_ended(subscription_id: str, member: Member) -> dict | None:
    """The subscription when Stripe's state says it has ended (or is gone), else None.

    Asked only after Stripe refused the cancellation: the refusal's message is
    never read, only the subscription's status.
    """
    try:
        current = gateway.retrieve_subscription(subscription_id, member_id=member.pk)
    except gateway.StripeInvalidRequest as exc:
        return _gone(subscription_id, member) if exc.is_missing else None
    return current if current.get("status") in sync.TERMINAL_STATUSES else None


def _gone(subscription_id: str, member: Member) -> dict:
    return {"id": subscription_id, "status": "canceled", "customer": member.stripe_customer_id}
