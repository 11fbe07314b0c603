"""Cancel the member's subscription at the end of the paid period, or undo that.

Stripe schedules a cancellation two ways: ``cancel_at_period_end``, or a date in
``cancel_at`` (its Dashboard's "cancel on a custom date"). Both count here.
"""

from __future__ import annotations

from members.models import Member

from ..models import SubscriptionChange
from . import member_subscription as held
from .member_subscription import Applied, conflict

NOTHING_SCHEDULED = "No cancellation is scheduled."
ALREADY_ENDED = "Your subscription has already ended; it cannot be resumed."


def cancel_at_period_end(member: Member, *, requested_by: Member | None = None) -> Applied:
    """Schedule the cancellation; the member keeps the groups until it is deleted.

    Asking again while it is scheduled (at the period end or sooner) answers the same
    schedule, without a change: a date set in Stripe is not moved later.
    """
    subscription_id = held.held_subscription_id(member)
    subscription = held.live_subscription(member, subscription_id)
    if _ends_by_period_end(subscription):
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
    if subscription.get("cancel_at_period_end"):
        undo = {"cancel_at_period_end": False}
    elif subscription.get("cancel_at"):
        undo = {"cancel_at": ""}  # Stripe's way to clear a date
    else:
        raise conflict(NOTHING_SCHEDULED)
    change = held.record_change(member, subscription_id, SubscriptionChange.Action.RESUME,
                                undo, requested_by)
    return held.send_change(change)


def _ends_by_period_end(subscription: dict) -> bool:
    if subscription.get("cancel_at_period_end"):
        return True
    cancel_at = subscription.get("cancel_at")
    if not cancel_at:
        return False
    # A date after the period end would still bill one more renewal: move it.
    items = (subscription.get("items") or {}).get("data") or []
    period_end = items[0].get("current_period_end") if items else None
    return period_end is None or int(cancel_at) <= int(period_end)
