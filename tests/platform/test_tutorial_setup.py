"""After ``seed_demo --tutorial`` the admin steps of the Kuroco tutorial go through: the API
editor saves an API whose checkout endpoint awaits its products, and the checkout endpoint
takes a price once a member group carries it.

The whole tutorial, in Chromium against the emulator's dashboard: tests/e2e/test_tutorial.py.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from kuroco_billing.rcms_api.models import Api, Endpoint
from members.models import Member, MemberGroup

SITE = "http://127.0.0.1:8000"
PRICE_ID = "price_FromTheDashboard1"


@pytest.fixture
def tutorial(settings, client):
    """The tutorial's starting point, and the administrator signed in to the admin."""
    settings.STRIPE_API_BASE = ""
    settings.DEMO_SITE_URL = SITE
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", "--tutorial", stdout=StringIO())
    client.force_login(Member.objects.get(email=settings.DEMO_ADMIN_EMAIL))
    return client


def form_data(response, **changes) -> dict:
    """What the browser posts back for the admin page in ``response``, with ``changes``."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
    data.update(changes)
    return data


def errors(response) -> dict:
    if response.status_code != 200:
        return {}
    found = dict(response.context["adminform"].form.errors)
    for inline in response.context["inline_admin_formsets"]:
        found.update({f"row {i}": e for i, e in enumerate(inline.formset.errors) if e})
    return found


@pytest.mark.django_db
def test_api_editor_saves_an_api_whose_checkout_endpoint_awaits_its_products(tutorial):
    url = "/admin/rcms_api/api/1/change/"
    page = tutorial.get(url)
    assert "stripe/checkout" in page.content.decode()

    response = tutorial.post(url, form_data(page, description="Tutorial: cookie API"))

    assert response.status_code == 302, errors(response)
    assert Api.objects.get(pk=1).description == "Tutorial: cookie API"


@pytest.mark.django_db
def test_checkout_endpoint_takes_the_price_once_a_group_carries_it(tutorial):
    checkout = Endpoint.objects.get(api_id=1, path="stripe/checkout")
    url = f"/admin/rcms_api/endpoint/{checkout.pk}/change/"
    page = tutorial.get(url)
    # The return URLs are seeded: the person only adds the price.
    assert f"{SITE}/demo/?checkout=success" in page.content.decode()

    response = tutorial.post(url, form_data(page))
    assert "Enter at least one Stripe price ID" in str(errors(response)["products_list"])

    response = tutorial.post(url, form_data(page, products_list=PRICE_ID))
    assert "Not the price of any member group" in str(errors(response)["products_list"])

    MemberGroup.objects.filter(name="Basic members").update(stripe_price_id=PRICE_ID)
    response = tutorial.post(url, form_data(page, products_list=PRICE_ID))

    assert response.status_code == 302, errors(response)
    checkout.refresh_from_db()
    assert checkout.parameters == {
        "products_list": [PRICE_ID],
        "return_url": f"{SITE}/demo/?checkout=success",
        "return_err_url": f"{SITE}/demo/?checkout=cancel",
    }
