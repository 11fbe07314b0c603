"""Switch the member's live subscription to another price offered by the endpoint."""

from __future__ import annotations

from members.models import Member

from ..models import SubscriptionChange
from ..prices import unlinked_prices
from . import member_subscription as held
from .member_subscription import Applied, Refused, conflict
from .sync import price_ids_of

PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")
DEFAULT_PRORATION = "create_prorations"
NOT_OFFERED = "This plan is not offered here."
SAME_PLAN = "You are already on this plan."


def offered_prices(parameters: dict) -> list[str]:
    """The endpoint's products list, each price once."""
    products = parameters.get("products_list") or []
    if isinstance(products, str):
        products = [products]
    return list(dict.fromkeys(p for p in products if isinstance(p, str) and p))


def proration_of(parameters: dict) -> str:
    behavior = parameters.get("proration_behavior") or DEFAULT_PRORATION
    return behavior if behavior in PRORATION_BEHAVIORS else DEFAULT_PRORATION


def change_plan(member: Member, price_id: str, parameters: dict, *,
                requested_by: Member | None = None) -> Applied:
    """Ask Stripe to swap the price; the groups follow with ``customer.subscription.updated``."""
    if price_id not in offered_prices(parameters):
        raise Refused("bad_request", NOT_OFFERED, status=400, field="price_id")
    if unlinked_prices([price_id]):
        raise Refused("unprocessable_entity",
                      f"The price {price_id} is not linked to any member group, so switching "
                      "to it would grant nothing.", status=422, field="products_list")
    subscription_id = held.held_subscription_id(member)
    # Stripe's truth, not the stored state: the last change's event may not be here yet.
    subscription = held.live_subscription(member, subscription_id)
    if price_id in price_ids_of(subscription):
        raise conflict(SAME_PLAN)
    items = (subscription.get("items") or {}).get("data") or []
    if len(items) != 1:
        raise conflict("Your subscription has several items: change it in the billing portal.")
    change = held.record_change(member, subscription_id, SubscriptionChange.Action.CHANGE_PLAN, {
        "items": [{"id": items[0]["id"], "price": price_id}],
        "proration_behavior": proration_of(parameters),
        # A failed immediate payment is an error and changes nothing (no past_due plan).
        "payment_behavior": "error_if_incomplete",
    }, requested_by)
    return held.send_change(change)
