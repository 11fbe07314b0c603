"""A member's subscription, summarised for the admin's member editor."""

from __future__ import annotations

from members.models import Member

from .. import gateway
from ..models import StripeSettings, SubscriptionState
from . import sync


def subscription_summary(member: Member) -> dict | None:
    """``{"subscription_id", "status", "current_period_end", "price_ids", "source"}``.

    From the stored state when we have one, else from Stripe. None when the
    member has no subscription; never raises (``"error"`` says what failed).
    """
    subscription_id = member.stripe_subscription_id
    if not subscription_id:
        return None
    state = SubscriptionState.objects.filter(subscription_id=subscription_id).first()
    if state is not None and state.status:
        return {
            "subscription_id": subscription_id,
            "status": state.status,
            "current_period_end": state.current_period_end,
            "price_ids": list(state.price_ids or []),
            "source": "webhooks",
        }
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
