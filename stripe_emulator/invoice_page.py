"""The hosted invoice page (``hosted_invoice_url``) and its PDF (``invoice_pdf``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .pdf import text_pdf
from .resources.invoices import format_amount
from .state import Store
from .templates import esc, layout, table


def _day(ts: int | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _invoice(store: Store, token: str) -> dict[str, Any] | None:
    invoice_id = store.private["invoice_pages"].get(token)
    return store.get("invoice", invoice_id) if invoice_id else None


def _missing() -> Response:
    return Response(layout("Not found", "<h1>Invoice not found</h1>", nav=False), status=404,
                    content_type="text/html; charset=utf-8")


def page(store: Store, request: Request, token: str) -> Response:
    invoice = _invoice(store, token)
    if invoice is None:
        return _missing()
    money = lambda amount: esc(format_amount(amount, invoice["currency"]))  # noqa: E731
    rows = [[esc(line["description"]), str(line["quantity"]), money(line["amount"])]
            for line in invoice["lines"]["data"]]
    body = (
        f'<h1>Invoice <span id="invoice-number">{esc(invoice["number"])}</span></h1>'
        f'<p>{esc(invoice["account_name"])} · billed to {esc(invoice["customer_email"])}</p>'
        f'<p>Status: <span class="status" id="invoice-status">{esc(invoice["status"])}</span>'
        f' · Date: {_day(invoice["created"])} · Period: {_day(invoice["period_start"])} to '
        f'{_day(invoice["period_end"])}</p>'
        f'<section class="card">{table(["Description", "Qty", "Amount"], rows)}'
        f'<p>Amount due: <strong id="amount-due">{money(invoice["amount_due"])}</strong> · '
        f'Amount paid: <strong id="amount-paid">{money(invoice["amount_paid"])}</strong></p>'
        f'</section><p><a id="download-pdf" href="{esc(invoice["invoice_pdf"])}">'
        "Download invoice (PDF)</a></p>")
    return Response(layout(f"Invoice {invoice['number']}", body, nav=False),
                    content_type="text/html; charset=utf-8")


def pdf(store: Store, request: Request, token: str) -> Response:
    invoice = _invoice(store, token)
    if invoice is None:
        return _missing()

    def money(amount: int) -> str:
        return format_amount(amount, invoice["currency"])

    lines = [(18, f"Invoice {invoice['number']}"),
             (11, f"{invoice['account_name']}"),
             (11, f"Billed to: {invoice['customer_name'] or ''} <{invoice['customer_email']}>"),
             (11, f"Date: {_day(invoice['created'])}   Status: {invoice['status']}"),
             (11, f"Period: {_day(invoice['period_start'])} - {_day(invoice['period_end'])}"),
             (11, "")]
    lines += [(11, f"{line['description']}   {money(line['amount'])}")
              for line in invoice["lines"]["data"]]
    lines += [(11, ""), (13, f"Amount due: {money(invoice['amount_due'])}"),
              (13, f"Amount paid: {money(invoice['amount_paid'])}")]
    body = text_pdf(lines, title=f"Invoice {invoice['number']}")
    return Response(body, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="Invoice-{invoice["number"]}.pdf"'})
