"""Changing a subscription's price: proration lines and the invoice a change may need now.

The rules (Stripe's classic billing mode) are in docs/emulator.md, "Plan changes".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .billing import charge, new_invoice
from .errors import card_declined
from .periods import next_period_end
from .resources.invoices import build_line
from .state import Store

PRORATIONS = ("create_prorations", "none", "always_invoice")
PAYMENT_BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete",
                     "pending_if_incomplete")


def _interval(item: dict[str, Any]) -> tuple[str, int]:
    recurring = item["price"]["recurring"]
    return recurring["interval"], recurring["interval_count"]


def _proration(store: Store, sub: dict[str, Any], item: dict[str, Any], at: int,
               credit: bool) -> dict[str, Any]:
    """One proration line: the unused (credit) or remaining (charge) part of the period."""
    start, end = item["current_period_start"], item["current_period_end"]
    price = item["price"]
    product = store.get("product", price["product"]) or {"name": "Product"}
    line = build_line(store, invoice_id="", price=price, quantity=item["quantity"],
                      subscription_id=sub["id"], item_id=item["id"],
                      product_name=product["name"], period=(at, end))
    share = (end - at) / (end - start) if end > start else 0
    amount = round(price["unit_amount"] * item["quantity"] * share)
    line["amount"] = line["subtotal"] = -amount if credit else amount
    day = datetime.fromtimestamp(at, UTC).strftime("%d %b %Y")
    line["description"] = (f"{'Unused' if credit else 'Remaining'} time on "
                           f"{item['quantity']} x {product['name']} after {day}")
    line["parent"]["subscription_item_details"]["proration"] = True
    return line


def apply(store: Store, old: dict[str, Any], sub: dict[str, Any], *, proration: str,
          payment_behavior: str, at: int) -> None:
    """Bill the change from ``old`` to ``sub`` (items already swapped); updates ``sub``."""
    if sub["status"] not in ("active", "past_due"):
        return  # a trial is free; nothing is prorated
    before = {item["id"]: item for item in old["items"]["data"]}
    after = {item["id"]: item for item in sub["items"]["data"]}
    changed = [i for i in after if i in before and (
        after[i]["price"]["id"] != before[i]["price"]["id"]
        or after[i]["quantity"] != before[i]["quantity"])]
    added = [i for i in after if i not in before]
    removed = [i for i in before if i not in after]
    if not (changed or added or removed):
        return
    credits = [_proration(store, sub, before[i], at, credit=True) for i in changed + removed]
    if any(_interval(after[i]) != _interval(before[i]) for i in changed):
        for item in sub["items"]["data"]:
            interval, count = _interval(item)
            item["current_period_start"] = at
            item["current_period_end"] = next_period_end(at, at, interval, count)
        sub["billing_cycle_anchor"] = at
        lines = [] if proration == "none" else credits
        _invoice_now(store, sub, at, lines, payment_behavior, period_lines=True)
        return
    if proration == "none":
        return
    lines = credits + [_proration(store, sub, after[i], at, credit=False)
                       for i in changed + added]
    if proration == "create_prorations":
        pending = store.private.setdefault("pending_prorations", {})
        pending[sub["id"]] = [*pending.get(sub["id"], []), *lines]
        store.touch()
        return
    _invoice_now(store, sub, at, lines, payment_behavior, period_lines=False)


def _invoice_now(store: Store, sub: dict[str, Any], at: int, lines: list[dict[str, Any]],
                 payment_behavior: str, *, period_lines: bool) -> None:
    invoice = new_invoice(store, sub, at, "subscription_update", period_lines=period_lines,
                          prorations=lines)
    if invoice["total"] < 0:  # a net credit goes to the customer's balance
        invoice.update(amount_due=0, amount_remaining=0, ending_balance=invoice["total"])
    sub["latest_invoice"] = invoice["id"]
    if charge(store, sub, invoice, at):
        sub["status"] = "active"
        return
    if payment_behavior == "error_if_incomplete":
        raise card_declined()  # the caller's transaction undoes the change and the invoice
    sub["status"] = "past_due"
