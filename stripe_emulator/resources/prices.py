"""Prices: create (recurring or one-time, ``product_data[name]``), retrieve, update, list."""

from __future__ import annotations

import re
from typing import Any

from ..context import Ctx
from ..errors import invalid
from ..limits import MAX_AMOUNT
from ..listing import paginate
from ..params import get_bool, get_dict, get_enum, get_int, get_list, get_str, merge_metadata
from ..state import Store
from .common import Route, changed, require
from .products import build_product

INTERVALS = ("day", "week", "month", "year")
# Stripe caps a billing period at one year.
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}


def check_currency(value: str | None, param: str = "currency") -> str:
    if value is None:
        from ..errors import missing_param

        raise missing_param(param)
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise invalid(param, f"Invalid currency: {value.lower()}. Stripe currently supports "
                      "these currencies: usd, jpy, eur, gbp, ...", code="parameter_invalid")
    return value.lower()


def parse_recurring(raw: dict[str, Any], prefix: str = "recurring") -> dict[str, Any]:
    interval = get_enum(raw, "interval", INTERVALS, required=True, label=f"{prefix}[interval]")
    count = get_int(raw, "interval_count", label=f"{prefix}[interval_count]", minimum=1) or 1
    if count > MAX_INTERVAL_COUNT[interval or "month"]:
        raise invalid(f"{prefix}[interval_count]", "The maximum billing period is one year.",
                      code="parameter_invalid_integer")
    return {"interval": interval, "interval_count": count, "meter": None,
            "trial_period_days": None, "usage_type": "licensed"}


def build_price(store: Store, *, product: str, currency: str, unit_amount: int,
                recurring: dict[str, Any] | None, nickname: str | None = None,
                metadata: dict[str, str] | None = None, lookup_key: str | None = None,
                active: bool = True) -> dict[str, Any]:
    return {
        "id": store.new_id("price_"),
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": store.now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": metadata or {},
        "nickname": nickname,
        "product": product,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def require_sellable(ctx: Ctx, price_id: str, param: str) -> dict[str, Any]:
    """A price that may be bought: it exists and is active, and so is its product."""
    price = require(ctx, "price", price_id, param=param, status=400)
    if not price["active"]:
        raise invalid(param, "The price specified is inactive. This field only accepts "
                      "active prices.")
    product = ctx.store.get("product", price["product"])
    if product is not None and not product["active"]:
        raise invalid(param, f"The price `{price_id}` is not available to be purchased "
                      "because its product is not active.")
    return price


def plan_from_price(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` view that subscription items still carry."""
    recurring = price["recurring"] or {}
    return {
        "id": price["id"], "object": "plan", "active": price["active"],
        "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit", "created": price["created"],
        "currency": price["currency"], "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"), "livemode": False,
        "metadata": price["metadata"], "meter": None, "nickname": price["nickname"],
        "product": price["product"], "tiers_mode": None, "transform_usage": None,
        "trial_period_days": None, "usage_type": "licensed",
    }


def price_from_params(ctx: Ctx, params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Validate price parameters (also used for Checkout's ``price_data``); store nothing."""
    def label(name: str) -> str:
        return f"{prefix}[{name}]" if prefix else name

    currency = check_currency(get_str(params, "currency", label=label("currency")),
                              label("currency"))
    unit_amount = get_int(params, "unit_amount", required=True, label=label("unit_amount"),
                          minimum=0, maximum=MAX_AMOUNT)
    recurring = None
    if params.get("recurring") not in (None, ""):
        recurring = parse_recurring(get_dict(params, "recurring"), label("recurring"))
    product_id = get_str(params, "product", allow_empty=False, label=label("product"))
    product_data = get_dict(params, "product_data")
    if product_id:
        require(ctx, "product", product_id, param=label("product"), status=400)
    elif product_data:
        get_str(product_data, "name", required=True, label=label("product_data") + "[name]")
    else:
        from ..errors import missing_param

        raise missing_param(label("product"))
    return {"currency": currency, "unit_amount": unit_amount, "recurring": recurring,
            "product": product_id, "product_data": product_data}


def store_price(ctx: Ctx, spec: dict[str, Any], *, emit: bool = True,
                **extra: Any) -> dict[str, Any]:
    product_id = spec["product"]
    if not product_id:
        data = spec["product_data"]
        product = build_product(ctx.store, name=data["name"],
                                metadata=merge_metadata({}, data.get("metadata")))
        ctx.store.put("product", product)
        if emit:
            ctx.store.emit("product.created", product, request=ctx.request)
        product_id = product["id"]
    price = build_price(ctx.store, product=product_id, currency=spec["currency"],
                        unit_amount=spec["unit_amount"], recurring=spec["recurring"], **extra)
    ctx.store.put("price", price)
    if emit:
        ctx.store.emit("price.created", price, request=ctx.request)
    return price


def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    spec = price_from_params(ctx, params)
    active = get_bool(params, "active")
    return store_price(
        ctx, spec, nickname=get_str(params, "nickname") or None,
        metadata=merge_metadata({}, params.get("metadata")),
        lookup_key=get_str(params, "lookup_key") or None,
        active=True if active is None else active)


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return require(ctx, "price", id)


def update(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    old = require(ctx, "price", id)
    new = dict(old)
    if "active" in params:
        new["active"] = get_bool(params, "active")
    if "nickname" in params:
        new["nickname"] = get_str(params, "nickname") or None
    if "lookup_key" in params:
        new["lookup_key"] = get_str(params, "lookup_key") or None
    if "metadata" in params:
        new["metadata"] = merge_metadata(old["metadata"], params["metadata"])
    previous = changed(old, new)
    if previous:
        ctx.store.put("price", new)
        ctx.store.emit("price.updated", new, request=ctx.request, previous_attributes=previous)
    return new


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    product = get_str(params, "product")
    active = get_bool(params, "active")
    kind = get_enum(params, "type", ("recurring", "one_time"))
    currency = get_str(params, "currency")
    lookup_keys = get_list(params, "lookup_keys")
    recurring = get_dict(params, "recurring")
    items = [
        p for p in ctx.store.all("price")
        if (product is None or p["product"] == product)
        and (active is None or p["active"] == active)
        and (kind is None or p["type"] == kind)
        and (currency is None or p["currency"] == currency.lower())
        and (not lookup_keys or p["lookup_key"] in lookup_keys)
        and (not recurring.get("interval")
             or (p["recurring"] or {}).get("interval") == recurring["interval"])
    ]
    return paginate(items, params, "/v1/prices", "price")


ROUTES: list[Route] = [
    ("POST", "/v1/prices", create),
    ("GET", "/v1/prices", list_),
    ("GET", "/v1/prices/<id>", retrieve),
    ("POST", "/v1/prices/<id>", update),
]
