"""One module per Stripe resource; each exposes ``ROUTES`` of (method, rule, handler)."""

from __future__ import annotations

from . import (
    account,
    balance,
    checkout_sessions,
    customers,
    events,
    invoices,
    prices,
    products,
    subscriptions,
    webhook_endpoints,
)
from .common import Route

ALL_ROUTES: list[Route] = [
    route
    for module in (account, balance, customers, products, prices, checkout_sessions,
                   subscriptions, invoices, webhook_endpoints, events)
    for route in module.ROUTES
]
