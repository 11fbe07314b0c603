"""The member editor's billing panel: what it shows and the actions an administrator takes.

Every function here may ask Stripe: the admin calls them outside its transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from members.models import Member

from .. import gateway
from . import cancel, invoices, schedule
from .member_subscription import MEMBER_GONE, Refused

logger = logging.getLogger("payments.admin_billing")

PANEL_INVOICES = 5


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    question: str
    run: Callable[[Member, Member], str]


def _cancel_at_period_end(member: Member, admin: Member) -> str:
    applied = schedule.cancel_at_period_end(member, requested_by=admin)
    return f"Cancellation of {applied.subscription['id']} scheduled for the period end."


def _resume(member: Member, admin: Member) -> str:
    applied = schedule.resume(member, requested_by=admin)
    return f"Subscription {applied.subscription['id']} resumed."


def _cancel_now(member: Member, admin: Member) -> str:
    try:
        result = cancel.cancel_subscription(member)
    except cancel.NoSubscription:
        raise Refused("conflict", "The member has no subscription.", status=409) from None
    except cancel.MemberGone:
        raise Refused("not_found", "The member no longer exists; Stripe canceled the "
                      "subscription.", status=404) from None
    return f"Subscription {result.subscription_id} canceled."


ACTIONS: dict[str, Action] = {action.name: action for action in (
    Action("cancel_at_period_end", "Cancel at period end",
           "Cancel this member's subscription at the end of the paid period? The member "
           "keeps the groups until then.", _cancel_at_period_end),
    Action("cancel_now", "Cancel now",
           "Cancel this member's subscription now? The member leaves the paid groups at "
           "once and is not refunded.", _cancel_now),
    Action("resume", "Resume",
           "Undo the scheduled cancellation? The subscription renews as before.", _resume),
)}


def run_action(name: str, member: Member, admin: Member) -> tuple[bool, str]:
    """``(succeeded, message for the administrator)``; never raises for Stripe's trouble."""
    action = ACTIONS[name]
    try:
        return True, action.run(member, admin)
    except Refused as refused:  # worded for the member: say whose action it was
        if refused.message == MEMBER_GONE:
            return False, f"{action.label}: the member no longer exists."
        return False, f"{action.label}: {refused.message}"
    except gateway.StripeError as exc:
        return False, f"{action.label} failed: {exc.message}"


def latest_invoices(member: Member) -> tuple[list[dict], str | None]:
    """``(invoices, error)``: the member's newest invoices, or why they could not be read."""
    try:
        return invoices.member_invoices(member, PANEL_INVOICES, forget_gone=False), None
    except gateway.StripeError as exc:
        return [], exc.message
    except Exception:  # never break the member editor
        logger.exception("Invoices of member %s could not be read", member.pk)
        return [], "The invoices could not be read."
