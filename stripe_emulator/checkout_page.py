"""The hosted Checkout page: GET shows the session, POST validates the card form and pays."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .billing import CheckoutClosed, complete_checkout
from .cards import Card, luhn_ok
from .errors import StripeError
from .state import Store
from .templates import checkout as page
from .templates import esc, layout


def parse_card(form: dict[str, str], now: int, need_email: bool
               ) -> tuple[Card | None, str | None, list[str]]:
    """Check the form as Stripe's card element would; return (card, email, errors)."""
    errors = []
    number = re.sub(r"[\s-]", "", form.get("card_number", ""))
    if not re.fullmatch(r"\d{12,19}", number) or not luhn_ok(number):
        errors.append("Your card number is invalid.")
    exp_month = exp_year = 0
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", form.get("card_expiry", ""))
    if not match or not 1 <= int(match.group(1)) <= 12:
        errors.append("Your card's expiration date is incomplete.")
    else:
        exp_month, exp_year = int(match.group(1)), int(match.group(2))
        exp_year += 2000 if exp_year < 100 else 0
        today = datetime.fromtimestamp(now, UTC)
        if (exp_year, exp_month) < (today.year, today.month):
            errors.append("Your card's expiration date is in the past.")
    cvc = form.get("card_cvc", "").strip()
    if not re.fullmatch(r"\d{3,4}", cvc):
        errors.append("Your card's security code is incomplete.")
    name = form.get("cardholder_name", "").strip()
    if not name:
        errors.append("Enter the cardholder name.")
    email = form.get("email", "").strip() or None
    if need_email and (not email or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)):
        errors.append("Your email address is invalid.")
    if errors:
        return None, email, errors
    return Card(number, exp_month, exp_year, cvc, name), email, []


def _lines(store: Store, session_id: str) -> list[dict[str, Any]]:
    extra = store.private["session_lines"].get(session_id, {"lines": []})
    lines = []
    for line in extra["lines"]:
        price = store.get("price", line["price"]) or {}
        product = store.get("product", price.get("product", "")) or {}
        lines.append({"name": product.get("name", "Product"), "quantity": line["quantity"],
                      "unit_amount": price.get("unit_amount", 0),
                      "recurring": price.get("recurring")})
    return lines


def _email(store: Store, session: dict[str, Any]) -> str | None:
    if session["customer_email"]:
        return session["customer_email"]
    if session["customer"]:
        customer = store.get("customer", session["customer"]) or {}
        return customer.get("email") or (session.get("customer_details") or {}).get("email") \
            or "(saved customer)"
    return (session.get("customer_details") or {}).get("email")


def _render(store: Store, session: dict[str, Any], status: int, errors: list[str],
            form: dict[str, str]) -> Response:
    extra = store.private["session_lines"].get(session["id"], {})
    html = page.render(session, _lines(store, session["id"]), email=_email(store, session),
                       trial_days=extra.get("trial_period_days"), errors=errors, form=form)
    return Response(html, status=status, content_type="text/html; charset=utf-8")


def handle(store: Store, request: Request, session_id: str) -> Response:
    session = store.get("checkout.session", session_id)
    if session is None:
        body = layout("Not found", "<h1>Checkout session not found</h1>"
                      f"<p>No such checkout session: <code>{esc(session_id)}</code></p>",
                      nav=False)
        return Response(body, status=404, content_type="text/html; charset=utf-8")
    if session["status"] == "open" and session["expires_at"] <= store.now():
        from .billing import process_due

        process_due(store)
        session = store.get("checkout.session", session_id) or session
    if request.method == "GET":
        return _render(store, session, 200, [], {})
    form = {k: v for k, v in request.form.items()}
    if session["status"] != "open":
        return _render(store, session, 409, [], form)
    card, email, errors = parse_card(form, store.now(), need_email=_email(store, session) is None)
    if errors or card is None:
        return _render(store, session, 400, errors, form)
    try:
        done = complete_checkout(store, session_id, card, email)
    except CheckoutClosed:
        return _render(store, store.get("checkout.session", session_id) or session, 409, [],
                       form)
    except StripeError as exc:  # declined: the session stays open
        return _render(store, store.get("checkout.session", session_id) or session,
                       exc.status, [exc.message], form)
    location = done["success_url"].replace("{CHECKOUT_SESSION_ID}", done["id"])
    return Response(status=303, headers={"Location": location})
