"""One module per Stripe resource; each exposes ``ROUTES`` of (method, rule, handler)."""

from __future__ import annotations

from . import (
    account,
    balance,
    billing_portal,
    checkout_sessions,
    customers,
    events,
    invoices,
    payment_methods,
    prices,
    products,
    subscriptions,
    webhook_endpoints,
)
from .common import Route

ALL_ROUTES: list[Route] = [
    route
    for module in (account, balance, customers, products, prices, checkout_sessions,
                   subscriptions, invoices, webhook_endpoints, events, payment_methods,
                   billing_portal)
    for route in module.ROUTES
]
