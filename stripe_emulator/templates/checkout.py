"""The hosted Checkout page."""

from __future__ import annotations

from typing import Any

from ..resources.invoices import format_amount
from . import esc, field, layout


def interval_text(recurring: dict[str, Any] | None) -> str:
    if not recurring:
        return "one time"
    count, unit = recurring["interval_count"], recurring["interval"]
    return f"per {unit}" if count == 1 else f"every {count} {unit}s"


def render(session: dict[str, Any], lines: list[dict[str, Any]], *, email: str | None,
           trial_days: int | None, errors: list[str], form: dict[str, str]) -> str:
    currency = session["currency"] or "usd"
    rows = "".join(
        f'<tr class="line-item"><td class="product-name">{esc(line["name"])}</td>'
        f'<td>{line["quantity"]}</td>'
        f'<td class="amount">{esc(format_amount(line["unit_amount"], currency))}</td>'
        f'<td class="interval">{esc(interval_text(line["recurring"]))}</td></tr>'
        for line in lines)
    total = format_amount(session["amount_total"] or 0, currency)
    trial = (f'<p class="notice">{trial_days}-day free trial: nothing is charged today.</p>'
             if trial_days else "")
    state_note = ""
    if session["status"] == "complete":
        state_note = '<p class="notice" id="session-state">This checkout session is complete.</p>'
    elif session["status"] == "expired":
        state_note = ('<p class="error" id="session-state">This checkout session has expired.'
                      "</p>")
    error_html = "".join(f'<p class="error" role="alert">{esc(e)}</p>' for e in errors)
    back = (f'<p><a id="cancel-link" href="{esc(session["cancel_url"])}">&larr; Back</a></p>'
            if session["cancel_url"] else "")
    email_html = (f'<p>Email: <strong id="customer-email">{esc(email)}</strong></p>'
                  if email else field("email", "Email", kind="email",
                                      value=form.get("email", ""), required=True))
    submit = "Subscribe" if session["mode"] == "subscription" else "Pay"
    pay_form = ""
    if session["status"] == "open":
        # The card number and CVC are never echoed back after an error (as on Stripe): they
        # must not sit in the HTML, the browser cache or a screenshot. Name and expiry stay.
        pay_form = (
            f'<form class="card" method="post" action="/c/pay/{esc(session["id"])}">'
            f"{email_html}"
            + field("card_number", "Card number", value="",
                    required=True, extra='inputmode="numeric" autocomplete="cc-number" '
                    'placeholder="4242 4242 4242 4242"')
            + field("card_expiry", "Expiry (MM/YY)", value=form.get("card_expiry", ""),
                    required=True, extra='placeholder="MM/YY" autocomplete="cc-exp"')
            + field("card_cvc", "CVC", value="", required=True,
                    extra='inputmode="numeric" autocomplete="cc-csc" placeholder="123"')
            + field("cardholder_name", "Cardholder name",
                    value=form.get("cardholder_name", ""), required=True,
                    extra='autocomplete="cc-name"')
            + f'<button type="submit" id="submit">{submit}</button></form>')
    body = (
        f"{back}<h1>Checkout</h1>{state_note}{error_html}"
        '<section class="card"><table><thead><tr><th>Product</th><th>Qty</th><th>Price</th>'
        f"<th>Billing</th></tr></thead><tbody>{rows}</tbody></table>"
        f'<p>Total due: <strong id="total">{esc(total)}</strong></p>{trial}</section>'
        f"{pay_form}"
        '<p class="muted">Stripe emulator: no real card is charged. Test cards: '
        "4242 4242 4242 4242 (succeeds), 4000 0000 0000 0002 (declined), "
        "4000 0000 0000 9995 (insufficient funds), 4000 0000 0000 0341 (renewals fail).</p>"
    )
    return layout("Checkout", body, nav=False)
