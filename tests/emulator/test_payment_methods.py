"""Payment methods: create, attach, set as the customer's default; hosted invoices and PDFs."""

from __future__ import annotations

import io

import pytest
import requests
import stripe

from .helpers import GOOD, monthly_price, pay, subscription_session


def _card(client, number=GOOD):
    return client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": number.replace(" ", ""), "exp_month": 12,
                                 "exp_year": 2034, "cvc": "123"}})


def test_attach_and_make_default(stripe_client):
    customer = stripe_client.v1.customers.create(params={"email": "pm@example.com"})
    pm = _card(stripe_client)
    assert pm.customer is None and pm.card.last4 == "4242"
    attached = stripe_client.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    assert attached.customer == customer.id
    updated = stripe_client.v1.customers.update(customer.id, params={
        "invoice_settings": {"default_payment_method": pm.id}})
    assert updated.invoice_settings.default_payment_method == pm.id
    listed = stripe_client.v1.customers.payment_methods.list(customer.id).data
    assert [p.id for p in listed] == [pm.id]
    types = [e.type for e in stripe_client.v1.events.list().data]
    assert "payment_method.attached" in types and "customer.updated" in types


def test_test_tokens_and_refusals(stripe_client):
    customer = stripe_client.v1.customers.create()
    visa = stripe_client.v1.payment_methods.attach("pm_card_visa",
                                                   params={"customer": customer.id})
    assert visa.id.startswith("pm_") and visa.id != "pm_card_visa"
    with pytest.raises(stripe.CardError):
        stripe_client.v1.payment_methods.attach("pm_card_visa_chargeDeclined",
                                                params={"customer": customer.id})
    with pytest.raises(stripe.CardError):
        _card(stripe_client, "4242 4242 4242 4241")
    loose = _card(stripe_client)
    with pytest.raises(stripe.InvalidRequestError):  # not attached to this customer
        stripe_client.v1.customers.update(customer.id, params={
            "invoice_settings": {"default_payment_method": loose.id}})


def test_the_checkout_card_is_a_payment_method_of_the_customer(stripe_client):
    price = monthly_price(stripe_client)
    session = subscription_session(stripe_client, price.id)
    pay(session.url)
    session = stripe_client.v1.checkout.sessions.retrieve(session.id)
    sub = stripe_client.v1.subscriptions.retrieve(session.subscription)
    pm = stripe_client.v1.payment_methods.retrieve(sub.default_payment_method)
    assert pm.customer == session.customer and pm.card.last4 == "4242"


def test_invoices_have_a_hosted_page_and_a_real_pdf(stripe_client):
    pypdf = pytest.importorskip("pypdf")
    price = monthly_price(stripe_client, 1200, "Gold")
    session = subscription_session(stripe_client, price.id)
    pay(session.url)
    invoice = stripe_client.v1.invoices.list().data[0]
    page = requests.get(invoice.hosted_invoice_url, timeout=10)
    assert page.status_code == 200 and invoice.number in page.text and "1,200 JPY" in page.text
    assert invoice.invoice_pdf in page.text
    pdf = requests.get(invoice.invoice_pdf, timeout=10)
    assert pdf.headers["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(pdf.content), strict=True)
    text = reader.pages[0].extract_text()
    assert f"Invoice {invoice.number}" in text and "1,200 JPY" in text and "paid" in text
    missing = requests.get(invoice.hosted_invoice_url + "x", timeout=10)
    assert missing.status_code == 404
