"""Checkout Sessions: create, retrieve, list, expire, line_items. Paying happens on the hosted
page (see ``checkout_page.py`` and ``billing.complete_checkout``)."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..errors import invalid, missing_param
from ..listing import paginate
from ..params import (
    get_dict,
    get_enum,
    get_int,
    get_list,
    get_str,
    get_url,
    merge_metadata,
)
from ..state import Store
from .common import Route, require
from .prices import price_from_params, require_sellable, store_price

DAY = 86400
UI_MODES = ("hosted_page", "hosted", "embedded_page", "elements", "form")


def build_session(store: Store, *, mode: str, base_url: str, amount: int, currency: str,
                  customer: str | None, customer_email: str | None, success_url: str,
                  cancel_url: str | None, client_reference_id: str | None,
                  metadata: dict[str, str], expires_at: int) -> dict[str, Any]:
    session_id = store.new_id("cs_test_", 58)
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "allowed_payment_method_types": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "status": None,
                          "provider": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": store.now(),
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": customer,
        "customer_account": None,
        "customer_creation": None if customer or mode == "subscription" else "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None if mode == "subscription" else {
            "enabled": False, "invoice_data": {"account_tax_ids": None, "custom_fields": None,
                                               "description": None, "footer": None,
                                               "issuer": None, "metadata": {},
                                               "rendering_options": None}},
        "livemode": False,
        "locale": None,
        "managed_payments": None,
        "metadata": metadata,
        "mode": mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": f"{base_url}/c/pay/{session_id}",
        "wallet_options": None,
    }


def _line_items(ctx: Ctx, params: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    """Validate ``line_items`` and return [{"price": price object, "quantity": n}]."""
    raw_items = get_list(params, "line_items")
    if not raw_items:
        raise missing_param("line_items")
    lines = []
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise invalid(f"line_items[{i}]", f"Invalid hash: line_items[{i}]")
        param = f"line_items[{i}][price]"
        price_id = get_str(raw, "price", allow_empty=False, label=param)
        if price_id:
            price = require_sellable(ctx, price_id, param)
            spec = None
        elif raw.get("price_data"):
            spec = price_from_params(ctx, get_dict(raw, "price_data"),
                                     prefix=f"line_items[{i}][price_data]")
            price = {"type": "recurring" if spec["recurring"] else "one_time",
                     "currency": spec["currency"], "recurring": spec["recurring"]}
        else:
            raise missing_param(param)
        quantity = get_int(raw, "quantity", label=f"line_items[{i}][quantity]", minimum=1)
        if quantity is None:
            raise invalid(f"line_items[{i}][quantity]", "Quantity is required. Add `quantity` "
                          f"to `line_items[{i}]`", code="parameter_missing")
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(param, "You specified `payment` mode but passed a recurring price. "
                          "Either switch to `subscription` mode or use only one-time prices.")
        lines.append({"price": price, "spec": spec, "quantity": quantity, "param": param})
    if mode == "subscription" and not any(line["price"]["type"] == "recurring" for line in lines):
        raise invalid("line_items[0][price]", "You must provide at least one recurring price "
                      "in `subscription` mode when using prices.")
    currencies = {line["price"]["currency"] for line in lines}
    if len(currencies) > 1:
        raise invalid("line_items", "All prices on a Checkout Session must use the same "
                      "currency.")
    intervals = {(line["price"]["recurring"]["interval"],
                  line["price"]["recurring"]["interval_count"])
                 for line in lines if line["price"]["type"] == "recurring"}
    if len(intervals) > 1:
        raise invalid("line_items", "Checkout does not support multiple prices with different "
                      "billing intervals.")
    return lines


def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    mode = get_enum(params, "mode", ("payment", "subscription", "setup"), required=True)
    if mode == "setup":
        raise invalid("mode", "The emulator does not support `setup` mode.")
    # ``hosted`` is the name older API versions and SDKs send for ``hosted_page``.
    ui_mode = get_enum(params, "ui_mode", UI_MODES, default="hosted_page")
    if ui_mode not in ("hosted", "hosted_page"):
        raise invalid("ui_mode", "The emulator only supports `ui_mode=hosted_page`.")
    success_url = get_url(params, "success_url", required=True) or ""
    cancel_url = get_url(params, "cancel_url")
    customer_id = get_str(params, "customer", allow_empty=False)
    customer_email = get_str(params, "customer_email", allow_empty=False)
    if customer_id:
        require(ctx, "customer", customer_id, param="customer", status=400)
        if customer_email:
            raise invalid("customer_email", "You may only specify one of these parameters: "
                          "customer, customer_email.")
    sub_data = get_dict(params, "subscription_data")
    trial_days = get_int(sub_data, "trial_period_days", minimum=1,
                         label="subscription_data[trial_period_days]")
    if sub_data and mode != "subscription":
        raise invalid("subscription_data", "You can not pass `subscription_data` in `payment` "
                      "mode.")
    customer_creation = get_enum(params, "customer_creation", ("always", "if_required"))
    if customer_creation and mode == "subscription":
        raise invalid("customer_creation", "`customer_creation` can only be used in `payment` "
                      "mode.")
    now = ctx.store.now()
    expires_at = get_int(params, "expires_at") or now + DAY
    if not now + 30 * 60 <= expires_at <= now + DAY:
        raise invalid("expires_at", "The `expires_at` timestamp must be between 30 minutes "
                      "and 24 hours from Checkout Session creation.")
    lines = _line_items(ctx, params, mode or "payment")
    with ctx.store.transaction():
        for line in lines:  # price_data becomes a real (inactive-to-lists) price, as on Stripe
            if line["spec"] is not None:
                line["price"] = store_price(ctx, line["spec"], emit=False, active=False)
        amount = sum(line["price"]["unit_amount"] * line["quantity"] for line in lines)
        session = build_session(
            ctx.store, mode=mode or "payment", base_url=ctx.base_url, amount=amount,
            currency=lines[0]["price"]["currency"], customer=customer_id,
            customer_email=customer_email, success_url=success_url, cancel_url=cancel_url,
            client_reference_id=get_str(params, "client_reference_id") or None,
            metadata=merge_metadata({}, params.get("metadata")), expires_at=expires_at)
        if customer_creation:
            session["customer_creation"] = customer_creation
        ctx.store.private["session_lines"][session["id"]] = {
            "lines": [{"price": line["price"]["id"], "quantity": line["quantity"]}
                      for line in lines],
            "subscription_metadata": merge_metadata({}, sub_data.get("metadata"),
                                                    "subscription_data[metadata]"),
            "trial_period_days": trial_days,
            "description": get_str(sub_data, "description") or None,
        }
        ctx.store.put("checkout.session", session)
    return _with_line_items(ctx, session, params)


def line_items(ctx: Ctx, session_id: str) -> dict[str, Any]:
    extra = ctx.store.private["session_lines"].get(session_id, {"lines": []})
    data = []
    for n, line in enumerate(extra["lines"]):
        price = ctx.store.get("price", line["price"]) or {}
        product = ctx.store.get("product", price.get("product", "")) or {}
        amount = price.get("unit_amount", 0) * line["quantity"]
        data.append({
            "id": f"li_{session_id[-20:]}{n:04d}", "object": "item",
            "adjustable_quantity": None, "amount_discount": 0,
            "amount_subtotal": amount, "amount_tax": 0, "amount_total": amount,
            "currency": price.get("currency"), "description": product.get("name"),
            "metadata": {}, "price": price, "quantity": line["quantity"],
        })
    return {"object": "list", "data": data, "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items"}


def _with_line_items(ctx: Ctx, session: dict[str, Any], params: dict[str, Any]
                     ) -> dict[str, Any]:
    # ``line_items`` is not a field of the session; it is only there when expanded.
    expand = get_list(params, "expand")
    if "line_items" in expand:
        session["line_items"] = line_items(ctx, session["id"])
        params["expand"] = [e for e in expand if e != "line_items"]
    return session


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return _with_line_items(ctx, require(ctx, "checkout.session", id), params)


def list_line_items(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    require(ctx, "checkout.session", id)
    return paginate(line_items(ctx, id)["data"], params,
                    f"/v1/checkout/sessions/{id}/line_items", "line item")


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    customer = get_str(params, "customer")
    subscription = get_str(params, "subscription")
    status = get_enum(params, "status", ("open", "complete", "expired"))
    payment_intent = get_str(params, "payment_intent")
    items = [
        s for s in ctx.store.all("checkout.session")
        if (customer is None or s["customer"] == customer)
        and (subscription is None or s["subscription"] == subscription)
        and (status is None or s["status"] == status)
        and (payment_intent is None or s["payment_intent"] == payment_intent)
    ]
    return paginate(items, params, "/v1/checkout/sessions", "checkout.session")


def expire(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    from ..billing import expire_session

    session = require(ctx, "checkout.session", id)
    if session["status"] != "open":
        raise invalid(None, f"Session is in status `{session['status']}`. Only Checkout "
                      "Sessions with a status in [\"open\"] can be expired.")
    return expire_session(ctx.store, session, ctx.store.now(), request=ctx.request)


ROUTES: list[Route] = [
    ("POST", "/v1/checkout/sessions", create),
    ("GET", "/v1/checkout/sessions", list_),
    ("GET", "/v1/checkout/sessions/<id>", retrieve),
    ("GET", "/v1/checkout/sessions/<id>/line_items", list_line_items),
    ("POST", "/v1/checkout/sessions/<id>/expire", expire),
]
