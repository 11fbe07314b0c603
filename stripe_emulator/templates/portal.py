"""The hosted Billing Portal page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..resources.invoices import format_amount
from . import esc, field, layout
from .checkout import interval_text


def day(ts: int | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _form(session_id: str, csrf: str, action: str, inner: str, button: str,
          button_id: str, *, secondary: bool = False) -> str:
    css = ' class="secondary"' if secondary else ""
    return (f'<form method="post" action="/p/session/{esc(session_id)}">'
            f'<input type="hidden" name="csrf_token" value="{esc(csrf)}">'
            f'<input type="hidden" name="action" value="{esc(action)}">{inner}'
            f'<button type="submit" id="{esc(button_id)}"{css}>{esc(button)}</button></form>')


def _plan(view: dict[str, Any]) -> str:
    sub, price = view["subscription"], view["price"]
    ends = (f'<p id="cancel-notice" class="notice">Your plan ends on '
            f'<strong>{day(sub["cancel_at"])}</strong>.</p>' if sub["cancel_at_period_end"]
            else "")
    nxt = view["next_invoice"]
    upcoming = ("" if nxt is None else
                f'<p>Next invoice: <strong id="next-invoice-amount">'
                f'{esc(format_amount(nxt["amount"], nxt["currency"]))}</strong> on '
                f'<span id="next-invoice-date">{day(nxt["date"])}</span></p>')
    return (f'<h2>Current plan</h2><p><strong id="plan-name">{esc(view["product_name"])}'
            f'</strong> — <span id="plan-amount">'
            f'{esc(format_amount(price["unit_amount"], price["currency"]))}</span> '
            f'{esc(interval_text(price["recurring"]))} '
            f'<span class="status" id="subscription-status">{esc(sub["status"])}</span></p>'
            f"{ends}{upcoming}")


def _actions(view: dict[str, Any], session_id: str, csrf: str) -> str:
    sub, features = view["subscription"], view["features"]
    hidden = f'<input type="hidden" name="subscription" value="{esc(sub["id"])}">'
    parts = []
    choices = view["choices"]
    if features["subscription_update"]["enabled"] and choices:
        options = "".join(f'<option value="{esc(c["id"])}">{esc(c["label"])}</option>'
                          for c in choices)
        parts.append(_form(session_id, csrf, "switch",
                           hidden + '<label for="price">Switch plan</label>'
                           f'<select id="price" name="price">{options}</select>',
                           "Switch plan", "switch-plan"))
    cancel = features["subscription_cancel"]
    if sub["cancel_at_period_end"]:
        parts.append(_form(session_id, csrf, "renew", hidden, "Renew plan", "renew-plan"))
    elif cancel["enabled"]:
        label = ("Cancel plan at the end of the period" if cancel["mode"] == "at_period_end"
                 else "Cancel plan now")
        parts.append(_form(session_id, csrf, "cancel", hidden, label, "cancel-plan",
                           secondary=True))
    return "".join(parts)


def _card(view: dict[str, Any], session_id: str, csrf: str, form: dict[str, str]) -> str:
    card = view["card"]
    now = (f'<p>Card on file: <span id="card-on-file">{esc(card["brand"])} •••• '
           f'{esc(card["last4"])}</span> (expires {card["exp_month"]:02d}/{card["exp_year"]})'
           "</p>" if card else '<p id="card-on-file">No card on file.</p>')
    if not view["features"]["payment_method_update"]["enabled"]:
        return f'<section class="card"><h2>Payment method</h2>{now}</section>'
    # As on the Checkout page, the number and CVC are never echoed back.
    inner = (field("card_number", "Card number", required=True,
                   extra='inputmode="numeric" autocomplete="cc-number"')
             + field("card_expiry", "Expiry (MM/YY)", value=form.get("card_expiry", ""),
                     required=True, extra='placeholder="MM/YY" autocomplete="cc-exp"')
             + field("card_cvc", "CVC", required=True, extra='inputmode="numeric"')
             + field("cardholder_name", "Cardholder name",
                     value=form.get("cardholder_name", ""), required=True))
    return (f'<section class="card"><h2>Payment method</h2>{now}'
            + _form(session_id, csrf, "payment_method", inner, "Update payment method",
                    "update-payment-method") + "</section>")


def _invoices(invoices: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr class="invoice-row"><td>{day(i["created"])}</td><td>{esc(i["number"])}</td>'
        f'<td>{esc(format_amount(i["amount_due"], i["currency"]))}</td>'
        f'<td><span class="status">{esc(i["status"])}</span></td>'
        f'<td><a href="{esc(i["hosted_invoice_url"])}">View</a> · '
        f'<a href="{esc(i["invoice_pdf"])}">PDF</a></td></tr>'
        for i in invoices)
    body = (f"<table><thead><tr><th>Date</th><th>Number</th><th>Amount</th><th>Status</th>"
            f"<th></th></tr></thead><tbody>{rows}</tbody></table>" if rows
            else '<p class="muted">No invoices yet.</p>')
    return f'<section class="card" id="invoice-history"><h2>Invoice history</h2>{body}</section>'


def render(*, session: dict[str, Any], csrf: str, customer: dict[str, Any],
           plans: list[dict[str, Any]], card: dict[str, Any] | None,
           invoices: list[dict[str, Any]], features: dict[str, Any], headline: str | None,
           notice: str | None, errors: list[str], form: dict[str, str]) -> str:
    back = (f'<p><a id="return-link" href="{esc(session["return_url"])}">&larr; Return</a></p>'
            if session["return_url"] else "")
    head = f'<p class="muted">{esc(headline)}</p>' if headline else ""
    messages = (f'<p class="notice" id="portal-notice">{esc(notice)}</p>' if notice else "")
    messages += "".join(f'<p class="error" role="alert">{esc(e)}</p>' for e in errors)
    sections = "".join(
        '<section class="card subscription">' + _plan({**view, "features": features})
        + _actions({**view, "features": features}, session["id"], csrf) + "</section>"
        for view in plans) or '<section class="card"><p>No active subscription.</p></section>'
    history = _invoices(invoices) if features["invoice_history"]["enabled"] else ""
    body = (f"{back}<h1>Billing</h1>{head}<p>Signed in as "
            f'<strong id="customer-email">{esc(customer.get("email") or customer["id"])}'
            f"</strong></p>{messages}{sections}"
            + _card({"card": card, "features": features}, session["id"], csrf, form)
            + history
            + '<p class="muted">Stripe emulator: test cards 4242 4242 4242 4242 (succeeds), '
            "4000 0000 0000 0002 (declined), 4000 0000 0000 0341 (renewals fail).</p>")
    return layout("Billing portal", body, nav=False)
