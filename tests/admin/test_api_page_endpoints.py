"""The API page's endpoint rows lead to the full endpoint form, where a checkout can be added."""

import re

import pytest

from kuroco_billing.rcms_api.models import Endpoint
from members.models import MemberGroup
from tests.admin.test_apis import API_LIST, endpoint_data

ENDPOINT_ADD = "/admin/rcms_api/endpoint/add/"


@pytest.fixture
def gold(db):
    return MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold1")


def full_form_link(html: str) -> str:
    return re.search(r'<a id="add-endpoint" href="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_api_page_links_to_the_full_endpoint_form(staff_client, cookie_api):
    html = staff_client.get(f"{API_LIST}{cookie_api.pk}/change/").content.decode()

    assert full_form_link(html) == f"{ENDPOINT_ADD}?api={cookie_api.pk}"
    assert "checkout endpoint needs its products and return URLs" in html


def test_full_form_opens_for_that_api_with_checkout_settings(staff_client, cookie_api):
    html = staff_client.get(f"{ENDPOINT_ADD}?api={cookie_api.pk}").content.decode()

    assert re.search(rf'<option value="{cookie_api.pk}" selected>', html)
    for name in ("products_list", "return_url", "return_err_url", "trial_period_days"):
        assert f'name="{name}"' in html


def test_checkout_added_from_the_api_page_saves_and_goes_back(staff_client, cookie_api, gold):
    response = staff_client.post(
        f"{ENDPOINT_ADD}?api={cookie_api.pk}", endpoint_data(cookie_api)
    )

    assert response.status_code == 302
    assert response["Location"] == f"{API_LIST}{cookie_api.pk}/change/"
    endpoint = Endpoint.objects.get(api=cookie_api, operation="checkout")
    assert endpoint.parameters["products_list"] == ["price_gold1"]


def test_existing_rows_link_to_their_full_form(staff_client, cookie_api):
    html = staff_client.get(f"{API_LIST}{cookie_api.pk}/change/").content.decode()

    for endpoint in cookie_api.endpoints.all():
        assert f'href="/admin/rcms_api/endpoint/{endpoint.pk}/change/' in html
