"""Subscriptions: retrieve, list, update, cancel. Checkout and billing create and renew them.

Under API version 2026-10-28.endive the billing period lives on each subscription item.
"""

from __future__ import annotations

import copy
from typing import Any

from ..context import Ctx
from ..errors import StripeError, invalid, unknown_param
from ..listing import created_filter, paginate
from ..params import get_bool, get_dict, get_enum, get_int, get_list, get_str, merge_metadata
from ..state import Store
from .common import Route, require
from .prices import plan_from_price, require_sellable

STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled",
            "unpaid", "paused")
CANCELED_UPDATABLE = {"metadata", "cancellation_details", "expand"}
# What the emulator applies on update; the rest of Stripe's parameters (below) are refused
# as unsupported, and any other name as Stripe refuses it: parameter_unknown.
UPDATABLE = CANCELED_UPDATABLE | {"items", "proration_behavior", "payment_behavior",
                                  "default_payment_method", "cancel_at_period_end",
                                  "cancel_at"}
# Stripe's own (SubscriptionUpdateParams of the pinned SDK, API version 2026-10-28.endive).
STRIPE_UPDATE_PARAMS = UPDATABLE | {
    "add_invoice_items", "application_fee_percent", "automatic_tax", "billing_cycle_anchor",
    "billing_schedules", "billing_thresholds", "collection_method", "days_until_due",
    "default_source", "default_tax_rates", "description", "discounts", "invoice_settings",
    "off_session", "on_behalf_of", "pause_collection", "payment_settings",
    "pending_invoice_item_interval", "proration_date", "transfer_data", "trial_end",
    "trial_from_plan", "trial_settings",
}
# ``cancel_at``'s words for "the end of the current period" (one interval here: the same).
PERIOD_END_WORDS = ("min_period_end", "max_period_end", "max_billed_until")


def build_item(store: Store, *, subscription_id: str, price: dict[str, Any], quantity: int,
               period: tuple[int, int], at: int) -> dict[str, Any]:
    return {
        "id": store.new_id("si_", 14),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": at,
        "current_period_end": period[1],
        "current_period_start": period[0],
        "current_trial": None,
        "discounts": [],
        "metadata": {},
        "plan": plan_from_price(price),
        "price": copy.deepcopy(price),
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def build_subscription(store: Store, *, subscription_id: str, customer_id: str,
                       items: list[dict[str, Any]], at: int, trial_end: int | None,
                       metadata: dict[str, str], payment_method: str | None,
                       latest_invoice: str | None) -> dict[str, Any]:
    return {
        "id": subscription_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
        "billing_cycle_anchor": trial_end or at,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic", "flexible": None},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "feedback_option": None,
                                 "reason": None},
        "collection_method": "charge_automatically",
        "created": at,
        "currency": items[0]["price"]["currency"],
        "customer": customer_id,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "custom_fields": None,
                             "description": None, "footer": None, "issuer": {"type": "self"}},
        "items": {"object": "list", "data": items, "has_more": False,
                  "url": f"/v1/subscription_items?subscription={subscription_id}"},
        "latest_invoice": latest_invoice,
        "livemode": False,
        "managed_payments": None,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": at,
        "status": "trialing" if trial_end else "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"billing_cycle_anchor": None,
                                            "missing_payment_method": "create_invoice"}},
        "trial_start": at if trial_end else None,
    }


def current_period(sub: dict[str, Any]) -> tuple[int, int]:
    items = sub["items"]["data"]
    return (min(i["current_period_start"] for i in items),
            min(i["current_period_end"] for i in items))


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return require(ctx, "subscription", id)


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    customer = get_str(params, "customer")
    price = get_str(params, "price")
    status = get_enum(params, "status", (*STATUSES, "all", "ended"))
    in_range = created_filter(params)

    def status_ok(sub: dict[str, Any]) -> bool:
        if status == "all":
            return True
        if status == "ended":
            return sub["status"] in ("canceled", "incomplete_expired")
        if status is None:
            return sub["status"] != "canceled"  # Stripe hides canceled ones by default
        return sub["status"] == status

    items = [
        s for s in ctx.store.all("subscription")
        if (customer is None or s["customer"] == customer)
        and (price is None or any(i["price"]["id"] == price for i in s["items"]["data"]))
        and status_ok(s) and in_range(s["created"])
    ]
    return paginate(items, params, "/v1/subscriptions", "subscription")


def _apply_items(ctx: Ctx, sub: dict[str, Any], raw_items: list[Any]) -> None:
    """Swap prices (``items[0][id]`` + ``items[0][price]``), add or delete items. No proration."""
    data = sub["items"]["data"]
    start, end = current_period(sub)
    at = ctx.store.now()
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise invalid(f"items[{i}]", f"Invalid hash: items[{i}]")
        item_id = get_str(raw, "id", allow_empty=False, label=f"items[{i}][id]")
        price_id = get_str(raw, "price", allow_empty=False, label=f"items[{i}][price]")
        quantity = get_int(raw, "quantity", label=f"items[{i}][quantity]", minimum=0)
        price = None
        if price_id:
            price = require_sellable(ctx, price_id, f"items[{i}][price]")
            if price["type"] != "recurring":
                raise invalid(f"items[{i}][price]", "The price specified is set to "
                              "`type=one_time` but this field only accepts prices with "
                              "`type=recurring`.")
            if price["currency"] != sub["currency"]:
                raise invalid(f"items[{i}][price]", "Currency of the price must match the "
                              f"subscription currency ({sub['currency']}).")
        if item_id:
            matches = [item for item in data if item["id"] == item_id]
            if not matches:
                raise StripeError(400, f"No such subscription item: '{item_id}'",
                                  code="resource_missing", param=f"items[{i}][id]")
            item = matches[0]
            if get_bool(raw, "deleted", f"items[{i}][deleted]"):
                data.remove(item)
                continue
            if price:
                item["price"], item["plan"] = price, plan_from_price(price)
            if quantity is not None:
                item["quantity"] = quantity
        elif price:
            data.append(build_item(ctx.store, subscription_id=sub["id"], price=price,
                                   quantity=1 if quantity is None else quantity,
                                   period=(start, end), at=at))
        else:
            raise invalid(f"items[{i}]", f"You must provide items[{i}][id] or "
                          f"items[{i}][price].")
    if not data:
        raise invalid("items", "A subscription must have at least one active plan.")


def _payment_method(ctx: Ctx, sub: dict[str, Any], params: dict[str, Any]) -> str | None:
    pm_id = get_str(params, "default_payment_method") or None
    if pm_id:
        pm = require(ctx, "payment_method", pm_id, param="default_payment_method", status=400)
        if pm["customer"] != sub["customer"]:
            raise invalid("default_payment_method", "The customer does not have a payment "
                          f"method with the ID {pm_id}. The payment method must be attached "
                          "to the customer.")
    return pm_id


def _check_names(params: dict[str, Any]) -> None:
    for name in params:
        if name not in STRIPE_UPDATE_PARAMS:
            raise unknown_param(name)
        if name not in UPDATABLE:
            raise invalid(name, f"The emulator does not support `{name}` on a subscription "
                          "update.")


def _cancel_at(ctx: Ctx, sub: dict[str, Any], params: dict[str, Any]) -> int | None:
    """``cancel_at``: a future time, one of PERIOD_END_WORDS, or "" to clear it."""
    raw = params["cancel_at"]
    if raw == "":
        return None
    if raw in PERIOD_END_WORDS:
        return current_period(sub)[1]
    when = get_int(params, "cancel_at", minimum=0)
    if when is None or when <= ctx.store.now():
        raise invalid("cancel_at", "cancel_at must be in the future.")
    return when


def update(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    _check_names(params)
    old = require(ctx, "subscription", id)
    if old["status"] == "canceled" and set(params) - CANCELED_UPDATABLE:
        raise invalid(None, "A canceled subscription can only update its cancellation_details "
                      "and metadata.")
    sub = copy.deepcopy(old)
    from ..plan_change import PAYMENT_BEHAVIORS, PRORATIONS, apply

    proration = get_enum(params, "proration_behavior", PRORATIONS,
                         default="create_prorations") or ""
    payment_behavior = get_enum(params, "payment_behavior", PAYMENT_BEHAVIORS,
                                default="allow_incomplete") or ""
    if payment_behavior == "pending_if_incomplete":
        raise invalid("payment_behavior", "The emulator does not support pending updates; use "
                      "`error_if_incomplete` to refuse a change whose payment fails.")
    if "metadata" in params:
        sub["metadata"] = merge_metadata(old["metadata"], params["metadata"])
    if "cancellation_details" in params:
        details = get_dict(params, "cancellation_details")
        sub["cancellation_details"].update(
            {k: details[k] or None for k in ("comment", "feedback") if k in details})
    if "default_payment_method" in params:
        sub["default_payment_method"] = _payment_method(ctx, sub, params)
    if "items" in params:
        _apply_items(ctx, sub, get_list(params, "items"))
        apply(ctx.store, old, sub, proration=proration, payment_behavior=payment_behavior,
              at=ctx.store.now())
        if sub["cancel_at_period_end"]:  # a new interval moves the period end
            sub["cancel_at"] = current_period(sub)[1]
    flag = get_bool(params, "cancel_at_period_end")
    if flag and params.get("cancel_at") not in (None, ""):
        raise invalid("cancel_at", "You may not set both `cancel_at` and "
                      "`cancel_at_period_end`.")
    if flag is not None and flag != old["cancel_at_period_end"]:
        _schedule(ctx, sub, current_period(sub)[1] if flag else None, at_period_end=flag)
    if "cancel_at" in params:
        _schedule(ctx, sub, _cancel_at(ctx, sub, params), at_period_end=False)
    previous = {k: old[k] for k in sub if old.get(k) != sub.get(k)}
    if previous:
        ctx.store.put("subscription", sub)
        ctx.store.emit("customer.subscription.updated", sub, request=ctx.request,
                       previous_attributes=previous)
    return sub


def _schedule(ctx: Ctx, sub: dict[str, Any], cancel_at: int | None, *,
              at_period_end: bool) -> None:
    """Set (or, with None, clear) the cancellation Stripe will carry out at ``cancel_at``."""
    sub["cancel_at_period_end"] = at_period_end and cancel_at is not None
    sub["cancel_at"] = cancel_at
    sub["canceled_at"] = ctx.store.now() if cancel_at else None
    sub["cancellation_details"]["reason"] = "cancellation_requested" if cancel_at else None


def cancel(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    from ..billing import end_subscription

    sub = require(ctx, "subscription", id)
    if sub["status"] == "canceled":
        # Documented choice: real Stripe refuses with an invalid_request_error (400).
        raise invalid(None, f"This subscription is already canceled: '{id}'. A canceled "
                      "subscription can only update its cancellation_details and metadata.")
    details = get_dict(params, "cancellation_details")
    return end_subscription(ctx.store, sub, ctx.store.now(), request=ctx.request,
                            reason="cancellation_requested",
                            comment=details.get("comment") or None,
                            feedback=details.get("feedback") or None)


ROUTES: list[Route] = [
    ("GET", "/v1/subscriptions", list_),
    ("GET", "/v1/subscriptions/<id>", retrieve),
    ("POST", "/v1/subscriptions/<id>", update),
    ("DELETE", "/v1/subscriptions/<id>", cancel),
]
