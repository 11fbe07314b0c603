"""Money moving: paying a Checkout Session, renewals, dunning, cancellation, expiry.

Test cards decide outcomes (see ``cards.CARDS``). Retries of a failed renewal happen
``RETRY_DAYS`` after the failed invoice was created; after the last one the subscription
becomes ``unpaid``. Plan changes are in ``plan_change.py``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from .cards import DECLINES, Card
from .errors import StripeError, card_declined
from .periods import DAY, next_period_end
from .resources.customers import build_customer
from .resources.invoices import build_invoice, build_line, publish
from .resources.payment_methods import store_card
from .resources.subscriptions import build_item, build_subscription, current_period
from .state import Store, random_token

RETRY_DAYS = (1, 3, 5)
# One call may move the clock at most ten years, and the clock stops before the year 3000:
# that keeps dates printable and period arithmetic (calendar months) within datetime's range.
MAX_ADVANCE_SECONDS = 10 * 365 * DAY
CLOCK_LIMIT = 32_503_680_000  # 3000-01-01T00:00:00Z
# Events that renewals and the hosted page cause have no API request behind them.
NO_REQUEST = {"id": None, "idempotency_key": None}

# Statuses no clock event changes any more.
ENDED = ("canceled", "incomplete_expired")


class CheckoutClosed(Exception):
    """The session is no longer open (``status`` says why)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _attach_card(store: Store, card: Card, customer_id: str | None) -> str:
    return store_card(store, card, customer_id)["id"]


def charge_ok(store: Store, pm_id: str | None, first: bool) -> bool:
    card = store.private["cards"].get(pm_id or "")
    if card is None:
        return False
    if card["behaviour"] == "fail_renewals":
        return first
    return card["behaviour"] == "ok"


def payment_method_for(store: Store, sub: dict[str, Any]) -> str | None:
    """The subscription's own card, else the customer's default (as Stripe charges)."""
    if sub.get("default_payment_method"):
        return sub["default_payment_method"]
    customer = store.get("customer", sub["customer"]) or {}
    return (customer.get("invoice_settings") or {}).get("default_payment_method")


def mark_paid(invoice: dict[str, Any], at: int) -> None:
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                   attempted=True, attempt_count=invoice["attempt_count"] + 1,
                   next_payment_attempt=None)
    invoice["status_transitions"]["paid_at"] = at


def new_invoice(store: Store, sub: dict[str, Any], at: int, reason: str,
                extra_lines: list[tuple[dict[str, Any], int]] = (), trial: bool = False,
                *, period_lines: bool = True, prorations: list[dict[str, Any]] = ()
                ) -> dict[str, Any]:
    """An invoice for the subscription's current period (plus one-time lines on creation,
    and proration lines: those pending since a plan change, or ``prorations``)."""
    customer = store.get("customer", sub["customer"]) or build_customer(store)
    invoice_id = store.new_id("in_")
    lines = []
    pending = store.private.setdefault("pending_prorations", {})
    for line in [*pending.pop(sub["id"], []), *prorations]:
        lines.append({**line, "invoice": invoice_id})
    store.touch()
    for item in sub["items"]["data"] if period_lines else []:
        product = store.get("product", item["price"]["product"]) or {"name": "Product"}
        line = build_line(store, invoice_id=invoice_id, price=item["price"],
                          quantity=item["quantity"], subscription_id=sub["id"],
                          item_id=item["id"], product_name=product["name"],
                          period=(item["current_period_start"], item["current_period_end"]))
        if trial:
            line["amount"] = line["subtotal"] = 0
            line["description"] = f"Trial period for {product['name']}"
        lines.append(line)
    for price, quantity in extra_lines:
        product = store.get("product", price["product"]) or {"name": "Product"}
        lines.append(build_line(store, invoice_id=invoice_id, price=price, quantity=quantity,
                                subscription_id=sub["id"], item_id=None,
                                product_name=product["name"], period=(at, at)))
    invoice = build_invoice(store, customer=customer, subscription=sub, lines=lines, at=at,
                            billing_reason=reason, period=current_period(sub),
                            invoice_id=invoice_id)
    publish(store, invoice)
    if customer.get("id") and store.get("customer", customer["id"]):
        customer["next_invoice_sequence"] += 1
        store.put("customer", customer)
    return invoice


# -- Checkout --------------------------------------------------------------------------------

def complete_checkout(store: Store, session_id: str, card: Card, email: str | None
                      ) -> dict[str, Any]:
    """Pay an open session: the whole change happens under the store lock, so two concurrent
    payments of one session make one subscription (the second sees ``complete``)."""
    with store.transaction():
        session = store.get("checkout.session", session_id)
        if session is None:
            raise KeyError(session_id)
        at = store.now()
        if session["status"] == "open" and session["expires_at"] <= at:
            session = expire_session(store, session, session["expires_at"])
        if session["status"] == "open":
            return _pay(store, session, card, email, at)
    # Raised after the transaction so that an expiry found just now is kept (an exception
    # inside would roll it back).
    raise CheckoutClosed(session["status"])


def _pay(store: Store, session: dict[str, Any], card: Card, email: str | None, at: int
         ) -> dict[str, Any]:
    if card.behaviour in DECLINES:
        raise card_declined(card.behaviour)
    session_id = session["id"]
    extra = store.private["session_lines"].get(session_id, {"lines": []})
    email = session["customer_email"] or email
    customer = store.get("customer", session["customer"]) if session["customer"] else None
    if customer is None and (session["mode"] == "subscription"
                             or session["customer_creation"] == "always"):
        customer = build_customer(store, email=email, name=card.name)
        store.put("customer", customer)
        store.emit("customer.created", customer, request=NO_REQUEST)
    pm_id = _attach_card(store, card, customer["id"] if customer else None)
    session.update(status="complete", payment_status="paid",
                   customer=customer["id"] if customer else None)
    session["customer_details"] = {
        "address": None, "email": email or (customer or {}).get("email"), "name": card.name,
        "phone": None, "tax_exempt": "none", "tax_ids": [], "business_name": None,
        "individual_name": None,
    }
    if session["mode"] == "subscription" and customer is not None:
        _start_subscription(store, session, extra, customer["id"], pm_id, at)
    else:
        session["payment_intent"] = "pi_" + random_token(24)
    store.put("checkout.session", session)
    store.emit("checkout.session.completed", session, request=NO_REQUEST)
    return session


def _start_subscription(store: Store, session: dict[str, Any], extra: dict[str, Any],
                        customer_id: str, pm_id: str, at: int) -> None:
    prices = [(store.get("price", line["price"]), line["quantity"]) for line in extra["lines"]]
    recurring = [(p, q) for p, q in prices if p and p["type"] == "recurring"]
    one_time = [(p, q) for p, q in prices if p and p["type"] == "one_time"]
    trial_days = extra.get("trial_period_days")
    trial_end = at + trial_days * DAY if trial_days else None
    sub_id = store.new_id("sub_")
    first = recurring[0][0]["recurring"]
    end = trial_end or next_period_end(at, at, first["interval"], first["interval_count"])
    items = [build_item(store, subscription_id=sub_id, price=p, quantity=q, period=(at, end),
                        at=at) for p, q in recurring]
    sub = build_subscription(store, subscription_id=sub_id, customer_id=customer_id,
                             items=items, at=at, trial_end=trial_end,
                             metadata=dict(extra.get("subscription_metadata") or {}),
                             payment_method=pm_id, latest_invoice=None)
    sub["description"] = extra.get("description")
    invoice = new_invoice(store, sub, at, "subscription_create", one_time,
                           trial=bool(trial_end))
    sub["latest_invoice"] = invoice["id"]
    store.put("invoice", invoice)
    store.emit("invoice.created", invoice, request=NO_REQUEST)
    mark_paid(invoice, at)
    store.put("invoice", invoice)
    store.emit("invoice.paid", invoice, request=NO_REQUEST)
    store.emit("invoice.payment_succeeded", invoice, request=NO_REQUEST)
    store.put("subscription", sub)
    store.emit("customer.subscription.created", sub, request=NO_REQUEST)
    session.update(subscription=sub_id, invoice=invoice["id"])
    if invoice["amount_due"] == 0:
        session["payment_status"] = "no_payment_required"


def expire_session(store: Store, session: dict[str, Any], at: int,
                   request: dict[str, Any] | None = None) -> dict[str, Any]:
    with store.transaction():
        session = copy.deepcopy(session)
        session.update(status="expired", url=None)
        store.put("checkout.session", session)
        store.emit("checkout.session.expired", session, request=request or NO_REQUEST,
                   created=at)
        return session


# -- subscription lifecycle ------------------------------------------------------------------

def end_subscription(store: Store, sub: dict[str, Any], at: int, *,
                     request: dict[str, Any] | None = None, reason: str | None = None,
                     comment: str | None = None, feedback: str | None = None
                     ) -> dict[str, Any]:
    with store.transaction():
        sub = copy.deepcopy(sub)
        sub.update(status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or at)
        details = sub["cancellation_details"]
        details["reason"] = reason
        if comment is not None:
            details["comment"] = comment
        if feedback is not None:
            details["feedback"] = feedback
        store.put("subscription", sub)
        store.emit("customer.subscription.deleted", sub, request=request or NO_REQUEST,
                   created=at)
        return sub


def renew(store: Store, sub: dict[str, Any], at: int) -> None:
    """A period ended: move items to the next period and charge the new invoice."""
    old = copy.deepcopy(sub)
    for item in sub["items"]["data"]:
        recurring = item["price"]["recurring"]
        start = item["current_period_end"]
        item["current_period_start"] = start
        item["current_period_end"] = next_period_end(
            sub["billing_cycle_anchor"], start, recurring["interval"],
            recurring["interval_count"])
    invoice = new_invoice(store, sub, at, "subscription_cycle")
    sub["latest_invoice"] = invoice["id"]
    paid = charge_ok(store, payment_method_for(store, sub), first=False)
    if paid:
        sub["status"] = "active"
        mark_paid(invoice, at)
        emit_sub_update(store, sub, old, at)
        store.put("invoice", invoice)
        store.emit("invoice.created", invoice, request=NO_REQUEST, created=at)
        store.emit("invoice.paid", invoice, request=NO_REQUEST, created=at)
        store.emit("invoice.payment_succeeded", invoice, request=NO_REQUEST, created=at)
        return
    fail_attempt(invoice, at)
    store.put("invoice", invoice)
    store.emit("invoice.created", invoice, request=NO_REQUEST, created=at)
    store.emit("invoice.payment_failed", invoice, request=NO_REQUEST, created=at)
    sub["status"] = "past_due"
    emit_sub_update(store, sub, old, at)


def charge(store: Store, sub: dict[str, Any], invoice: dict[str, Any], at: int) -> bool:
    """Try to pay ``invoice`` now with the subscription's card; emit what happened."""
    store.put("invoice", invoice)
    store.emit("invoice.created", invoice, request=NO_REQUEST, created=at)
    if invoice["amount_due"] <= 0 or charge_ok(store, payment_method_for(store, sub),
                                               first=False):
        mark_paid(invoice, at)
        store.put("invoice", invoice)
        store.emit("invoice.paid", invoice, request=NO_REQUEST, created=at)
        store.emit("invoice.payment_succeeded", invoice, request=NO_REQUEST, created=at)
        return True
    fail_attempt(invoice, at)
    store.put("invoice", invoice)
    store.emit("invoice.payment_failed", invoice, request=NO_REQUEST, created=at)
    return False


def fail_attempt(invoice: dict[str, Any], at: int) -> None:
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    retries_done = invoice["attempt_count"] - 1
    invoice["next_payment_attempt"] = (
        invoice["created"] + RETRY_DAYS[retries_done] * DAY
        if retries_done < len(RETRY_DAYS) else None)


def retry(store: Store, sub: dict[str, Any], invoice: dict[str, Any], at: int) -> None:
    old = copy.deepcopy(sub)
    if charge_ok(store, payment_method_for(store, sub), first=False):
        mark_paid(invoice, at)
        store.put("invoice", invoice)
        store.emit("invoice.paid", invoice, request=NO_REQUEST, created=at)
        store.emit("invoice.payment_succeeded", invoice, request=NO_REQUEST, created=at)
        sub["status"] = "active"
    else:
        fail_attempt(invoice, at)
        store.put("invoice", invoice)
        store.emit("invoice.payment_failed", invoice, request=NO_REQUEST, created=at)
        if invoice["next_payment_attempt"] is None:
            sub["status"] = "unpaid"
    if sub["status"] != old["status"]:
        emit_sub_update(store, sub, old, at)


def emit_sub_update(store: Store, sub: dict[str, Any], old: dict[str, Any], at: int) -> None:
    previous = {k: old[k] for k in sub if old.get(k) != sub.get(k)}
    store.put("subscription", sub)
    store.emit("customer.subscription.updated", sub, request=NO_REQUEST,
               previous_attributes=previous, created=at)


# -- the clock -------------------------------------------------------------------------------

def _next_due(store: Store, now: int) -> tuple[int, str, dict[str, Any]] | None:
    """The earliest thing whose time has come: a period end, a retry or a session expiry."""
    due: list[tuple[int, str, dict[str, Any]]] = []
    for sub in store.all("subscription"):
        # A scheduled cancellation happens at its time whatever the status (a past_due
        # one too); at a period end it comes before the renewal ("cancel" sorts first).
        if sub["cancel_at"] and sub["cancel_at"] <= now and sub["status"] not in ENDED:
            due.append((sub["cancel_at"], "cancel", sub))
        if sub["status"] in ("active", "trialing"):
            end = current_period(sub)[1]
            if end <= now:
                due.append((end, "period_end", sub))
        elif sub["status"] == "past_due" and sub["latest_invoice"]:
            invoice = store.get("invoice", sub["latest_invoice"])
            if invoice and invoice["status"] == "open" and invoice["next_payment_attempt"] \
                    and invoice["next_payment_attempt"] <= now:
                due.append((invoice["next_payment_attempt"], "retry", sub))
    for session in store.all("checkout.session"):
        if session["status"] == "open" and session["expires_at"] <= now:
            due.append((session["expires_at"], "expire", session))
    return min(due, key=lambda d: (d[0], d[1])) if due else None


def process_due(store: Store, limit: int = 100_000) -> int:
    """Run everything that came due, oldest first. Returns how many steps ran."""
    steps = 0
    with store.transaction():
        now = store.now()
        while steps < limit:
            due = _next_due(store, now)
            if due is None:
                break
            at, kind, obj = due
            if kind == "expire":
                expire_session(store, obj, at)
            elif kind == "retry":
                invoice = store.get("invoice", obj["latest_invoice"])
                assert invoice is not None
                retry(store, obj, invoice, at)
            elif kind == "cancel" or obj["cancel_at_period_end"]:
                end_subscription(store, obj, at, reason="cancellation_requested")
            else:
                renew(store, obj, at)
            steps += 1
    return steps


def advance_seconds(value: Any, param: str = "seconds") -> float:
    """Parse and check how far to move the clock: a finite number from 0 to ten years."""
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if not math.isfinite(seconds):
        raise StripeError(400, f"Invalid number: {value}. `{param}` must be a finite number "
                          "of seconds.", code="parameter_invalid_integer", param=param)
    if seconds < 0:
        raise StripeError(400, f"The clock only moves forward: `{param}` must be 0 or more.",
                          code="parameter_invalid_integer", param=param)
    if seconds > MAX_ADVANCE_SECONDS:
        raise StripeError(400, f"`{param}` must be at most {MAX_ADVANCE_SECONDS} (ten years) "
                          "per call.", code="parameter_invalid_integer", param=param)
    return seconds


def advance(store: Store, seconds: float, param: str = "seconds") -> int:
    seconds = advance_seconds(seconds, param)
    with store.transaction():
        if store.now() + seconds >= CLOCK_LIMIT:
            raise StripeError(400, "The emulator clock cannot go past the year 2999.",
                              code="parameter_invalid_integer", param=param)
        now = store.advance_clock(seconds)
        process_due(store)
        return now
