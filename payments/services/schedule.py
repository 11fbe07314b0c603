"""Cancel the member's subscription at the end of the paid period, or undo that."""

from __future__ import annotations

from members.models import Member

from ..models import SubscriptionChange
from . import member_subscription as held
from .member_subscription import Applied, conflict

NOTHING_SCHEDULED = "No cancellation is scheduled."
ALREADY_ENDED = "Your subscription has already ended; it cannot be resumed."


def cancel_at_period_end(member: Member, *, requested_by: Member | None = None) -> Applied:
    """Schedule the cancellation; the member keeps the groups until it is deleted.

    Asking again while it is scheduled answers the same schedule, without a change.
    """
    subscription_id = held.held_subscription_id(member)
    subscription = held.live_subscription(member, subscription_id)
    if subscription.get("cancel_at_period_end"):
        return Applied(subscription)
    change = held.record_change(
        member, subscription_id, SubscriptionChange.Action.CANCEL_AT_PERIOD_END,
        {"cancel_at_period_end": True}, requested_by)
    return held.send_change(change)


def resume(member: Member, *, requested_by: Member | None = None) -> Applied:
    """Undo a scheduled cancellation, while the subscription has not ended."""
    subscription_id = held.held_subscription_id(member)
    state = held.stored_state(subscription_id)
    if state is not None and state.deleted:
        raise conflict(ALREADY_ENDED)
    try:
        subscription = held.live_subscription(member, subscription_id)
    except held.Refused as refused:
        if refused.message == held.ENDED:
            raise conflict(ALREADY_ENDED) from None
        raise
    if not subscription.get("cancel_at_period_end"):
        raise conflict(NOTHING_SCHEDULED)
    change = held.record_change(member, subscription_id, SubscriptionChange.Action.RESUME,
                                {"cancel_at_period_end": False}, requested_by)
    return held.send_change(change)
