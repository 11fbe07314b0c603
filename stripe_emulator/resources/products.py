"""Products: create, retrieve, update, list."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..listing import paginate
from ..params import get_bool, get_str, merge_metadata
from ..state import Store
from .common import Route, changed, require


def build_product(store: Store, *, name: str, description: str | None = None,
                  active: bool = True, metadata: dict[str, str] | None = None,
                  product_id: str | None = None) -> dict[str, Any]:
    now = store.now()
    return {
        "id": product_id or store.new_id("prod_", 14),
        "object": "product",
        "active": active,
        "created": now,
        "default_price": None,
        "description": description,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": metadata or {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "tax_details": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }


def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = get_str(params, "name", required=True)
    product_id = get_str(params, "id", allow_empty=False)
    if product_id and ctx.store.get("product", product_id):
        from ..errors import StripeError

        raise StripeError(400, "Product already exists.", code="resource_already_exists",
                          param="id")
    active = get_bool(params, "active")
    product = build_product(
        ctx.store, name=name or "", description=get_str(params, "description") or None,
        active=True if active is None else active,
        metadata=merge_metadata({}, params.get("metadata")), product_id=product_id)
    ctx.store.put("product", product)
    ctx.store.emit("product.created", product, request=ctx.request)
    return product


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return require(ctx, "product", id)


def update(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    old = require(ctx, "product", id)
    new = dict(old)
    if "name" in params:
        new["name"] = get_str(params, "name", allow_empty=False)
    if "description" in params:
        new["description"] = get_str(params, "description") or None
    if "active" in params:
        new["active"] = get_bool(params, "active")
    if "metadata" in params:
        new["metadata"] = merge_metadata(old["metadata"], params["metadata"])
    if "default_price" in params:
        price_id = get_str(params, "default_price")
        if price_id:
            require(ctx, "price", price_id, param="default_price", status=400)
        new["default_price"] = price_id or None
    previous = changed(old, new)
    if previous:
        new["updated"] = ctx.store.now()
        ctx.store.put("product", new)
        ctx.store.emit("product.updated", new, request=ctx.request,
                       previous_attributes=previous)
    return new


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    active = get_bool(params, "active")
    items = [p for p in ctx.store.all("product") if active is None or p["active"] == active]
    return paginate(items, params, "/v1/products", "product")


ROUTES: list[Route] = [
    ("POST", "/v1/products", create),
    ("GET", "/v1/products", list_),
    ("GET", "/v1/products/<id>", retrieve),
    ("POST", "/v1/products/<id>", update),
]
