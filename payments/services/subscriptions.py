"""A member's subscription, summarised for the admin's member editor."""

from __future__ import annotations

from members.models import Member

from .. import gateway
from ..models import StripeSettings, SubscriptionState
from . import sync


def stored_summary(member: Member) -> dict | None:
    """The summary from the stored state alone (no Stripe call); None when none is stored."""
    subscription_id = member.stripe_subscription_id
    if not subscription_id:
        return None
    state = SubscriptionState.objects.filter(subscription_id=subscription_id).first()
    if state is None or not state.status:
        return None
    return {
        "subscription_id": subscription_id,
        "status": state.status,
        "current_period_end": state.current_period_end,
        "price_ids": list(state.price_ids or []),
        "source": "webhooks",
    }


def subscription_summary(member: Member) -> dict | None:
    """``{"subscription_id", "status", "current_period_end", "price_ids", "source"}``.

    From the stored state when we have one, else from Stripe (so call it outside
    any transaction). None when the member has no subscription; never raises
    (``"error"`` says what failed).
    """
    subscription_id = member.stripe_subscription_id
    if not subscription_id:
        return None
    stored = stored_summary(member)
    if stored is not None:
        return stored
    try:
        subscription = gateway.retrieve_subscription(subscription_id, config=StripeSettings.load())
    except gateway.StripeError as exc:
        return {
            "subscription_id": subscription_id,
            "status": "unknown",
            "current_period_end": None,
            "price_ids": [],
            "source": "stripe",
            "error": exc.message,
        }
    except Exception:  # never break the member editor
        return {"subscription_id": subscription_id, "status": "unknown",
                "current_period_end": None, "price_ids": [], "source": "stripe",
                "error": "The subscription could not be read."}
    return {
        "subscription_id": subscription_id,
        "status": subscription.get("status") or "unknown",
        "current_period_end": sync.current_period_end_of(subscription),
        "price_ids": sync.price_ids_of(subscription),
        "source": "stripe",
    }
