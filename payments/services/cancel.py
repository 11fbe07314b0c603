"""Cancel the member's own subscription, at once."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from members.models import Member

from .. import gateway
from . import sync


class NoSubscription(Exception):
    """The member has no subscription to cancel."""


@dataclass
class CancelResult:
    subscription_id: str
    changes: list[str] = field(default_factory=list)
    already_gone: bool = False


def _already_canceled(exc: gateway.StripeInvalidRequest) -> bool:
    return exc.is_missing or "cancel" in exc.message.lower()


def cancel_subscription(member: Member) -> CancelResult:
    """Cancel in Stripe, then unlink locally, all with the member's row locked.

    Only the subscription ID stored on the member is ever used, so a member can
    only cancel their own. If Stripe fails (StripeUnavailable), the transaction
    rolls back and local state is unchanged. If Stripe says the subscription is
    already canceled or gone, it is unlinked locally all the same.
    """
    with transaction.atomic():
        member = sync.lock_member(member.pk)
        subscription_id = member.stripe_subscription_id
        if not subscription_id:
            raise NoSubscription
        already_gone = False
        try:
            snapshot = gateway.cancel_subscription(subscription_id, member_id=member.pk)
        except gateway.StripeInvalidRequest as exc:
            if not _already_canceled(exc):
                raise
            already_gone = True
            snapshot = {"id": subscription_id, "status": "canceled",
                        "customer": member.stripe_customer_id}
        state = sync.lock_state(subscription_id)
        result = sync.apply_snapshot(member, state, snapshot, deleted=True)
        state.save()
        return CancelResult(subscription_id, result.changes, already_gone)
