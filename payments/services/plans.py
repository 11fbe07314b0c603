"""What the member may buy or switch to, and what they hold: answered from the database."""

from __future__ import annotations

from members.models import Member, MemberGroup

from ..models import SubscriptionState
from .grants import GRANTING_STATUSES
from .plan_change import offered_prices


def _unix(moment) -> int | None:
    return int(moment.timestamp()) if moment else None


def _price_fields(group: MemberGroup | None) -> dict:
    if group is None:
        return {"product_name": "", "amount": None, "currency": "", "interval": ""}
    return {
        "product_name": group.price_product_name or group.name,
        "amount": group.price_unit_amount,
        "currency": group.price_currency,
        "interval": group.price_interval,
    }


def _held_state(member: Member) -> tuple[str | None, SubscriptionState | None]:
    subscription_id = Member.objects.filter(pk=member.pk).values_list(
        "stripe_subscription_id", flat=True).first()
    if not subscription_id:
        return None, None
    return subscription_id, SubscriptionState.objects.filter(
        subscription_id=subscription_id).first()


def current_price_ids(member: Member) -> list[str]:
    """The prices of the member's live subscription, as the webhooks last said."""
    _, state = _held_state(member)
    if state is None or state.deleted or state.status not in GRANTING_STATUSES:
        return []
    return list(state.price_ids or [])


def offered_plans(member: Member, parameters: dict) -> list[dict]:
    """The endpoint's plans in its order; a price no group carries is left out (it grants
    nothing, so it is not sold)."""
    prices = offered_prices(parameters)
    groups = {g.stripe_price_id: g for g in MemberGroup.objects.filter(stripe_price_id__in=prices)}
    current = set(current_price_ids(member))
    return [
        {"price_id": price_id, **_price_fields(groups[price_id]),
         "group_ids": {str(groups[price_id].pk): groups[price_id].name},
         "current": price_id in current}
        for price_id in prices if price_id in groups
    ]


def subscription_answer(member: Member) -> dict | None:
    """The member's subscription as stored from Stripe's events; None when they hold none."""
    subscription_id, state = _held_state(member)
    if subscription_id is None:
        return None
    price_ids = list(state.price_ids or []) if state else []
    groups = list(MemberGroup.objects.filter(stripe_price_id__in=price_ids)) if price_ids else []
    first = next((g for g in groups if g.stripe_price_id == price_ids[0]), None) if groups else None
    return {
        "id": subscription_id,
        "status": state.status if state else None,
        "price_id": price_ids[0] if price_ids else None,
        **_price_fields(first),
        "current_period_end": _unix(state.current_period_end) if state else None,
        "cancel_at_period_end": bool(state and state.cancel_at_period_end),
        "cancel_at": _unix(state.cancel_at) if state else None,
        "trial_end": _unix(state.trial_end) if state else None,
        "group_ids": {str(g.pk): g.name for g in groups},
    }
