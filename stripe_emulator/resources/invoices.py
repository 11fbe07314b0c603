"""Invoices: retrieve, list (by customer, subscription, status). Billing makes them."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..listing import created_filter, paginate
from ..params import get_enum, get_str
from ..state import Store, random_token
from .common import Route, require

STATUSES = ("draft", "open", "paid", "uncollectible", "void")
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                "vnd", "vuv", "xaf", "xof", "xpf"}


def format_amount(amount: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount:,} {currency.upper()}"
    return f"{amount / 100:,.2f} {currency.upper()}"


def subscription_of(invoice: dict[str, Any]) -> str | None:
    """Since API version 2025-03-31 an invoice names its subscription under ``parent``."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")


def publish(store: Store, invoice: dict[str, Any]) -> None:
    """Give a new invoice its hosted page and PDF, behind an unguessable token."""
    token = "test_" + random_token(40)
    store.private["invoice_pages"][token] = invoice["id"]
    store.touch()
    invoice["hosted_invoice_url"] = f"{store.base_url}/i/{token}"
    invoice["invoice_pdf"] = f"{store.base_url}/i/{token}/pdf"


def build_line(store: Store, *, invoice_id: str, price: dict[str, Any], quantity: int,
               period: tuple[int, int], subscription_id: str | None,
               item_id: str | None, product_name: str) -> dict[str, Any]:
    amount = price["unit_amount"] * quantity
    return {
        "id": store.new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": f"{quantity} x {product_name} "
                       f"(at {format_amount(price['unit_amount'], price['currency'])})",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details" if item_id else "invoice_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None, "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id, "subscription_item": item_id,
            } if item_id else None,
        },
        "period": {"start": period[0], "end": period[1]},
        "pretax_credit_amounts": [],
        "pricing": {"type": "price_details",
                    "price_details": {"price": price["id"], "product": price["product"]},
                    "unit_amount_decimal": price["unit_amount_decimal"]},
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": subscription_id,
        "subtotal": amount,
        "taxes": [],
    }


def build_invoice(store: Store, *, customer: dict[str, Any], subscription: dict[str, Any],
                  lines: list[dict[str, Any]], at: int, billing_reason: str,
                  period: tuple[int, int], invoice_id: str, zero: bool = False
                  ) -> dict[str, Any]:
    """A finalized ``open`` invoice; billing marks it paid or failed right after."""
    total = 0 if zero else sum(line["amount"] for line in lines)
    if zero:
        for line in lines:
            line["amount"] = line["subtotal"] = 0
    number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "JP",
        "account_name": "Kuroco Emulator",
        "account_tax_ids": None,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {"enabled": False, "liability": None, "status": None,
                          "disabled_reason": None, "provider": None},
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": at,
        "currency": subscription["currency"],
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": customer["address"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": at,
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {"object": "list", "data": lines, "has_more": False,
                  "url": f"/v1/invoices/{invoice_id}/lines"},
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": number,
        "on_behalf_of": None,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": dict(subscription["metadata"]),
                                     "subscription": subscription["id"]},
        },
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": period[1],
        "period_start": period[0],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "open",
        "status_transitions": {"finalized_at": at, "marked_uncollectible_at": None,
                               "paid_at": None, "voided_at": None},
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": at,
    }


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return require(ctx, "invoice", id)


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    customer = get_str(params, "customer")
    if customer and customer not in ctx.store.private.get("deleted_customers", []):
        # As Stripe: a customer it never had is refused, not an empty list (a deleted
        # one still lists its invoices).
        require(ctx, "customer", customer, param="customer", status=400)
    subscription = get_str(params, "subscription")
    status = get_enum(params, "status", STATUSES)
    in_range = created_filter(params)
    items = [
        i for i in ctx.store.all("invoice")
        if (customer is None or i["customer"] == customer)
        and (subscription is None or subscription_of(i) == subscription)
        and (status is None or i["status"] == status)
        and in_range(i["created"])
    ]
    return paginate(items, params, "/v1/invoices", "invoice")


ROUTES: list[Route] = [
    ("GET", "/v1/invoices", list_),
    ("GET", "/v1/invoices/<id>", retrieve),
]
