"""The dashboard finds a subscription's invoices through ``parent.subscription_details``."""

from __future__ import annotations

import requests

from .helpers import subscribe


def test_subscription_page_lists_its_invoices_and_their_events(stripe_client, emulator):
    _session, sub = subscribe(stripe_client)
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    page = requests.get(f"{emulator.url}/subscriptions/{sub.id}", timeout=10).text
    assert invoice.id in page
    assert "invoice.paid" in page and "customer.subscription.created" in page
