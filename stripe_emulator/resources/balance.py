"""GET /v1/balance: paid invoices and one-time payments, summed per currency as pending."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..context import Ctx
from .common import Route


def retrieve(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    totals: dict[str, int] = defaultdict(int)
    for invoice in ctx.store.all("invoice"):
        totals[invoice["currency"]] += invoice["amount_paid"]
    for session in ctx.store.all("checkout.session"):
        if session["mode"] == "payment" and session["payment_status"] == "paid":
            totals[session["currency"]] += session["amount_total"] or 0
    currencies = sorted(totals) or ["jpy"]
    return {
        "object": "balance",
        "available": [{"amount": 0, "currency": c, "source_types": {"card": 0}}
                      for c in currencies],
        "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        "livemode": False,
        "pending": [{"amount": totals[c], "currency": c, "source_types": {"card": totals[c]}}
                    for c in currencies],
    }


ROUTES: list[Route] = [("GET", "/v1/balance", retrieve)]
