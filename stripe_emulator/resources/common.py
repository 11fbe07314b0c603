"""Helpers shared by the resource modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..context import Ctx
from ..errors import no_such

Handler = Callable[..., dict[str, Any]]
Route = tuple[str, str, Handler]

# The noun Stripe uses in "No such <noun>: 'id'".
LABELS = {
    "customer": "customer", "product": "product", "price": "price",
    "checkout.session": "checkout.session", "subscription": "subscription",
    "invoice": "invoice", "webhook_endpoint": "webhook endpoint", "event": "event",
    "payment_method": "PaymentMethod",
    "billing_portal.configuration": "billing_portal.configuration",
    "billing_portal.session": "billing_portal.session",
}


def require(ctx: Ctx, kind: str, object_id: str, *, param: str | None = "id",
            status: int = 404) -> dict[str, Any]:
    obj = ctx.store.get(kind, object_id)
    if obj is None:
        raise no_such(LABELS[kind], object_id, param=param, status=status)
    return obj


def address() -> dict[str, Any]:
    return {"city": None, "country": None, "line1": None, "line2": None,
            "postal_code": None, "state": None}


def changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Stripe's previous_attributes: old values of the top-level keys that changed."""
    return {k: old.get(k) for k in new if old.get(k) != new.get(k)}
