"""Payment methods (cards): create, retrieve, attach, detach, list; a customer's list.

The card's test behaviour (``cards.CARDS``) is kept privately next to the public object.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..cards import DECLINES, TEST_TOKENS, Card, luhn_ok
from ..context import Ctx
from ..errors import StripeError, card_declined, invalid
from ..listing import paginate
from ..params import get_dict, get_enum, get_int, get_str, merge_metadata
from ..state import Store
from .common import Route, address, require


def build_payment_method(store: Store, card: Card, customer_id: str | None,
                         pm_id: str | None = None) -> dict[str, Any]:
    return {
        "id": pm_id or store.new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": address(), "email": None, "name": card.name or None,
                            "phone": None, "tax_id": None},
        "card": {
            "brand": card.brand, "checks": {"address_line1_check": None,
                                            "address_postal_code_check": None,
                                            "cvc_check": "pass" if card.cvc else None},
            "country": "US", "display_brand": card.brand, "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": hashlib.sha256(card.number.encode()).hexdigest()[:16],
            "funding": "credit", "generated_from": None, "last4": card.number[-4:],
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True}, "wallet": None,
        },
        "created": store.now(),
        "customer": customer_id,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def store_card(store: Store, card: Card, customer_id: str | None) -> dict[str, Any]:
    """A new payment method for ``card`` (attached to ``customer_id`` when given)."""
    with store.transaction():
        pm = build_payment_method(store, card, customer_id)
        store.private["cards"][pm["id"]] = {
            "brand": card.brand, "last4": card.number[-4:], "exp_month": card.exp_month,
            "exp_year": card.exp_year, "behaviour": card.behaviour, "customer": customer_id,
            "name": card.name,
        }
        store.touch()
        store.put("payment_method", pm)
        return pm


def _card_from_params(params: dict[str, Any]) -> Card:
    raw = get_dict(params, "card")
    number = (get_str(raw, "number", required=True, label="card[number]") or "").replace(" ", "")
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_ok(number):
        raise StripeError(402, "Your card number is incorrect.", type="card_error",
                          code="incorrect_number", param="card[number]")
    exp_month = get_int(raw, "exp_month", required=True, label="card[exp_month]") or 0
    exp_year = get_int(raw, "exp_year", required=True, label="card[exp_year]") or 0
    if not 1 <= exp_month <= 12:
        raise StripeError(402, "Your card's expiration month is invalid.", type="card_error",
                          code="invalid_expiry_month", param="card[exp_month]")
    return Card(number, exp_month, exp_year, get_str(raw, "cvc") or "", "")


def _from_token(ctx: Ctx, token: str, param: str) -> dict[str, Any]:
    """``pm_card_visa`` and friends make a fresh payment method, as in Stripe's test mode."""
    if token in TEST_TOKENS:
        return store_card(ctx.store, Card(TEST_TOKENS[token], 12, 2034, "123", ""), None)
    return require(ctx, "payment_method", token, param=param,
                   status=400 if param != "id" else 404)


def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    get_enum(params, "type", ("card",), required=True)
    card = _card_from_params(params)
    pm = store_card(ctx.store, card, None)
    billing = get_dict(params, "billing_details")
    if billing or "metadata" in params:
        pm["billing_details"]["name"] = get_str(billing, "name") or None
        pm["billing_details"]["email"] = get_str(billing, "email") or None
        pm["metadata"] = merge_metadata({}, params.get("metadata"))
        ctx.store.put("payment_method", pm)
    return pm


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return _from_token(ctx, id, "id")


def attach(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    customer_id = get_str(params, "customer", required=True, allow_empty=False) or ""
    require(ctx, "customer", customer_id, param="customer", status=400)
    pm = _from_token(ctx, id, "id")
    if pm["customer"] and pm["customer"] != customer_id:
        raise invalid(None, "The payment method you provided has already been attached to a "
                      "customer.")
    card = ctx.store.private["cards"].get(pm["id"], {})
    if card.get("behaviour") in DECLINES:
        raise card_declined(card["behaviour"])
    attach_to(ctx.store, pm, customer_id, ctx.request)
    return ctx.store.get("payment_method", pm["id"]) or pm


def attach_to(store: Store, pm: dict[str, Any], customer_id: str,
              request: dict[str, Any]) -> None:
    if pm["customer"] == customer_id:
        return
    with store.transaction():
        pm["customer"] = customer_id
        store.put("payment_method", pm)
        cards = store.private["cards"]
        if pm["id"] in cards:
            cards[pm["id"]] = {**cards[pm["id"]], "customer": customer_id}
            store.touch()
        store.emit("payment_method.attached", pm, request=request)


def detach(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    pm = require(ctx, "payment_method", id)
    if not pm["customer"]:
        raise invalid(None, "The payment method you provided is not attached to a customer so "
                      "detachment is impossible.")
    pm["customer"] = None
    ctx.store.put("payment_method", pm)
    ctx.store.emit("payment_method.detached", pm, request=ctx.request)
    return pm


def _customer_methods(ctx: Ctx, customer_id: str) -> list[dict[str, Any]]:
    return [pm for pm in ctx.store.all("payment_method") if pm["customer"] == customer_id]


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    customer_id = get_str(params, "customer", allow_empty=False)
    get_enum(params, "type", ("card",))
    items = _customer_methods(ctx, customer_id) if customer_id else []
    return paginate(items, params, "/v1/payment_methods", "payment method")


def customer_list(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    require(ctx, "customer", id)
    get_enum(params, "type", ("card",))
    return paginate(_customer_methods(ctx, id), params, f"/v1/customers/{id}/payment_methods",
                    "payment method")


def customer_retrieve(ctx: Ctx, params: dict[str, Any], id: str, pm: str) -> dict[str, Any]:
    require(ctx, "customer", id)
    found = require(ctx, "payment_method", pm)
    if found["customer"] != id:
        raise StripeError(404, f"No such PaymentMethod: '{pm}'", code="resource_missing",
                          param="payment_method")
    return found


ROUTES: list[Route] = [
    ("POST", "/v1/payment_methods", create),
    ("GET", "/v1/payment_methods", list_),
    ("GET", "/v1/payment_methods/<id>", retrieve),
    ("POST", "/v1/payment_methods/<id>/attach", attach),
    ("POST", "/v1/payment_methods/<id>/detach", detach),
    ("GET", "/v1/customers/<id>/payment_methods", customer_list),
    ("GET", "/v1/customers/<id>/payment_methods/<pm>", customer_retrieve),
]
