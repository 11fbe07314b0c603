"""Customers: create, retrieve, update, delete, list (by email)."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid
from ..listing import created_filter, paginate
from ..params import get_dict, get_str, merge_metadata
from ..state import Store, random_token
from .common import Route, address, changed, require

_FIELDS = ("email", "name", "description", "phone")


def build_customer(store: Store, *, email: str | None = None, name: str | None = None,
                   description: str | None = None, phone: str | None = None,
                   metadata: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": store.new_id("cus_", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": store.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": random_token(8).upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                             "footer": None, "rendering_options": None},
        "livemode": False,
        "metadata": metadata or {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    values = {f: get_str(params, f) or None for f in _FIELDS}
    customer = build_customer(ctx.store, **values,
                              metadata=merge_metadata({}, params.get("metadata")))
    if isinstance(params.get("address"), dict):
        customer["address"] = {**address(), **params["address"]}
    ctx.store.put("customer", customer)
    ctx.store.emit("customer.created", customer, request=ctx.request)
    return customer


def _deleted(ctx: Ctx, customer_id: str) -> dict[str, Any] | None:
    if customer_id in ctx.store.private.setdefault("deleted_customers", []):
        return {"id": customer_id, "object": "customer", "deleted": True}
    return None


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return _deleted(ctx, id) or require(ctx, "customer", id)


def update(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    old = require(ctx, "customer", id)
    new = dict(old)
    for field in _FIELDS:
        if field in params:
            new[field] = get_str(params, field) or None
    if "metadata" in params:
        new["metadata"] = merge_metadata(old["metadata"], params["metadata"])
    if isinstance(params.get("address"), dict):
        new["address"] = {**address(), **params["address"]}
    settings = get_dict(params, "invoice_settings")
    if "default_payment_method" in settings:
        new["invoice_settings"] = {**old["invoice_settings"],
                                   "default_payment_method": _default_pm(ctx, id, settings)}
    previous = changed(old, new)
    ctx.store.put("customer", new)
    if previous:
        ctx.store.emit("customer.updated", new, request=ctx.request,
                       previous_attributes=previous)
    return new


def _default_pm(ctx: Ctx, customer_id: str, settings: dict[str, Any]) -> str | None:
    param = "invoice_settings[default_payment_method]"
    pm_id = get_str(settings, "default_payment_method", label=param) or None
    if pm_id:
        pm = require(ctx, "payment_method", pm_id, param=param, status=400)
        if pm["customer"] != customer_id:
            raise invalid(param, f"The customer does not have a payment method with the ID "
                          f"{pm_id}. The payment method must be attached to the customer.")
    return pm_id


def delete(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    from ..billing import end_subscription  # billing imports this module

    customer = require(ctx, "customer", id)
    for sub in ctx.store.all("subscription"):
        if sub["customer"] == id and sub["status"] not in ("canceled", "incomplete_expired"):
            end_subscription(ctx.store, sub, ctx.store.now(), request=ctx.request,
                             reason="cancellation_requested")
    ctx.store.delete("customer", id)
    ctx.store.private.setdefault("deleted_customers", []).append(id)
    ctx.store.emit("customer.deleted", customer, request=ctx.request)
    return {"id": id, "object": "customer", "deleted": True}


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    email = get_str(params, "email")
    in_range = created_filter(params)
    items = [c for c in ctx.store.all("customer")
             if (email is None or c["email"] == email) and in_range(c["created"])]
    return paginate(items, params, "/v1/customers", "customer")


ROUTES: list[Route] = [
    ("POST", "/v1/customers", create),
    ("GET", "/v1/customers", list_),
    ("GET", "/v1/customers/<id>", retrieve),
    ("POST", "/v1/customers/<id>", update),
    ("DELETE", "/v1/customers/<id>", delete),
]
