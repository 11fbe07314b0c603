"""APIs and endpoints: lists, the grouped endpoint table, and refused configurations."""

import pytest

from kuroco_billing.rcms_api.models import Api, Endpoint
from tests.admin.endpoint_form import endpoint_form

API_LIST = "/admin/rcms_api/api/"
ENDPOINT_LIST = "/admin/rcms_api/endpoint/"
ENDPOINT_ADD = "/admin/rcms_api/endpoint/add/"


def endpoint_data(api, **overrides):
    """A checkout endpoint selling Gold, as the form posts it."""
    return endpoint_form(api, **{
        "path": "stripe/checkout", "operation": "checkout", "products_list": "price_gold1",
        "return_url": "https://www.example.com/thanks",
        "return_err_url": "https://www.example.com/sorry", **overrides})


def api_data(api, endpoints, **overrides):
    """The API change form with its endpoint rows, ``endpoints`` = list of row dicts."""
    data = {
        "title": api.title,
        "version": api.version,
        "description": "",
        "security": api.security,
        "cors_allowed_origins": "",
        "enabled": "on",
        "cors_allow_credentials": "on",
        "endpoints-TOTAL_FORMS": str(len(endpoints)),
        "endpoints-INITIAL_FORMS": str(sum(1 for e in endpoints if e.get("id"))),
        "endpoints-MIN_NUM_FORMS": "0",
        "endpoints-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(endpoints):
        row = {"api": api.pk, "summary": "", "enabled": "on", **row}
        for key, value in row.items():
            data[f"endpoints-{i}-{key}"] = value
    data.update(overrides)
    return data


def rows_of(api):
    return [
        {"id": e.pk, "path": e.path, "operation": e.operation}
        for e in api.endpoints.order_by("id")
    ]


def field_errors(response, field):
    return response.context["adminform"].form.errors.get(field, [])


def inline_errors(response):
    return [form.errors for form in response.context["inline_admin_formsets"][0].formset.forms]


# --- APIs -------------------------------------------------------------------------

def test_api_list_shows_columns_count_and_docs_links(staff_client, cookie_api, token_api):
    response = staff_client.get(API_LIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Cookie API" in html and "Token API" in html
    assert f'<td class="field-endpoint_count">{cookie_api.endpoints.count()}</td>' in html
    assert f'<td class="field-endpoint_count">{token_api.endpoints.count()}</td>' in html
    assert f'href="/rcms-api/{cookie_api.pk}/swagger/"' in html
    assert ">Swagger UI<" in html and ">OpenAPI<" in html
    assert "Dynamic token" in html


def test_api_editor_groups_endpoints_by_category(staff_client, token_api, priced_groups):
    Endpoint.objects.create(
        api=token_api, path="stripe/checkout", operation="checkout",
        parameters={"products_list": ["price_gold1"]},
    )

    response = staff_client.get(f"{API_LIST}{token_api.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    auth = html.index('<h3 class="endpoint-category">Authentication</h3>')
    payments = html.index('<h3 class="endpoint-category">Payments</h3>')
    assert auth < html.index(f"/rcms-api/{token_api.pk}/login") < payments
    assert payments < html.index(f"/rcms-api/{token_api.pk}/stripe/checkout")
    assert "Authentication / Login v1 / login_challenge" in html
    assert "Payments / Stripe v1 / checkout" in html
    assert f'href="/rcms-api/{token_api.pk}/swagger/"' in html
    assert "<td>POST</td>" in html and "<td>GET</td>" in html
    # The inline rows edit the same endpoints.
    assert 'name="endpoints-0-path"' in html


def test_api_editor_adds_an_endpoint_inline(staff_client, token_api):
    rows = [*rows_of(token_api), {"path": "me", "operation": "profile"}]

    response = staff_client.post(f"{API_LIST}{token_api.pk}/change/", api_data(token_api, rows))

    assert response.status_code == 302
    assert token_api.endpoints.filter(path="me", operation="profile").exists()


def test_inline_duplicate_method_and_path_is_refused(staff_client, token_api):
    rows = [*rows_of(token_api), {"path": "logout", "operation": "login_challenge"}]

    response = staff_client.post(f"{API_LIST}{token_api.pk}/change/", api_data(token_api, rows))

    assert response.status_code == 200
    assert {"path": ["This API already has a POST endpoint at “logout”: each method and "
                     "path once."]} in inline_errors(response)
    assert token_api.endpoints.count() == 4


def test_inline_same_path_with_another_method_is_allowed(staff_client, token_api):
    rows = [*rows_of(token_api), {"path": "logout", "operation": "profile"}]

    response = staff_client.post(f"{API_LIST}{token_api.pk}/change/", api_data(token_api, rows))

    assert response.status_code == 302


def test_inline_token_endpoint_on_cookie_api_is_refused(staff_client, cookie_api):
    rows = [*rows_of(cookie_api), {"path": "token", "operation": "token"}]

    response = staff_client.post(
        f"{API_LIST}{cookie_api.pk}/change/", api_data(cookie_api, rows)
    )

    assert response.status_code == 200
    assert "only works with dynamic-token APIs" in response.content.decode()
    assert not cookie_api.endpoints.filter(operation="token").exists()


def test_switching_an_api_with_token_endpoint_to_cookie_is_refused(staff_client, token_api):
    response = staff_client.post(
        f"{API_LIST}{token_api.pk}/change/",
        api_data(token_api, rows_of(token_api), security="cookie"),
    )

    assert response.status_code == 200
    assert "only works with dynamic-token APIs" in response.content.decode()
    token_api.refresh_from_db()
    assert token_api.security == "dynamic_token"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/leading", "without a leading slash"),
        ("with space", "only contain letters, digits"),
        ("a/../b", "cannot have empty, . or .. segments"),
        ("trailing/", "cannot have empty, . or .. segments"),
        ("ü", "only contain letters, digits"),
    ],
)
def test_inline_malformed_path_is_refused(staff_client, cookie_api, path, message):
    rows = [*rows_of(cookie_api), {"path": path, "operation": "profile"}]

    response = staff_client.post(
        f"{API_LIST}{cookie_api.pk}/change/", api_data(cookie_api, rows)
    )

    assert response.status_code == 200
    assert message in response.content.decode()


def test_inline_checkout_without_settings_points_to_endpoint_page(staff_client, cookie_api):
    rows = [*rows_of(cookie_api), {"path": "stripe/checkout", "operation": "checkout"}]

    response = staff_client.post(
        f"{API_LIST}{cookie_api.pk}/change/", api_data(cookie_api, rows)
    )

    assert response.status_code == 200
    assert "A checkout endpoint needs its products and return URLs" in (
        response.content.decode()
    )


def test_api_with_an_unconfigured_checkout_endpoint_can_still_be_saved(staff_client, cookie_api):
    """seed_demo without Stripe leaves stripe/checkout unconfigured; CORS must stay editable."""
    Endpoint.objects.create(api=cookie_api, path="stripe/checkout", operation="checkout")

    response = staff_client.post(
        f"{API_LIST}{cookie_api.pk}/change/",
        api_data(cookie_api, rows_of(cookie_api), cors_allowed_origins="https://shop.example"),
    )

    assert response.status_code == 302
    cookie_api.refresh_from_db()
    assert cookie_api.cors_allowed_origins == "https://shop.example"


def test_api_cors_origin_must_be_an_origin(staff_client, cookie_api):
    response = staff_client.post(
        f"{API_LIST}{cookie_api.pk}/change/",
        api_data(cookie_api, rows_of(cookie_api),
                 cors_allowed_origins="https://ok.example.com\nhttps://bad.example.com/path"),
    )

    assert response.status_code == 200
    assert "https://bad.example.com/path" in field_errors(response, "cors_allowed_origins")[0]


# --- Endpoints ----------------------------------------------------------------------

def test_endpoint_list_filters_by_api_operation_and_enabled(staff_client, cookie_api, token_api):
    response = staff_client.get(ENDPOINT_LIST, {"api__id__exact": token_api.pk,
                                                "operation__exact": "token"})

    html = response.content.decode()
    assert response.status_code == 200
    assert f"/rcms-api/{token_api.pk}/token" in html
    assert f"/rcms-api/{cookie_api.pk}/login" not in html
    assert "Authentication / Login v1 / token" in html
    disabled = staff_client.get(ENDPOINT_LIST, {"enabled__exact": "0"}).content.decode()
    assert "0 endpoints" in disabled


def test_endpoint_editor_offers_labelled_operations_and_settings(staff_client, cookie_api):
    response = staff_client.get(ENDPOINT_ADD)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Authentication / Login v1 / login_challenge (POST)" in html
    assert "Authentication / Login v1 / profile (GET)" in html
    assert "Checkout settings" in html and "Token settings" in html
    for name in ("products_list", "return_url", "return_err_url", "trial_period_days",
                 "access_token_lifetime", "refresh_token_lifetime",
                 "rate_limit_count", "rate_limit_period"):
        assert f'name="{name}"' in html
    assert 'name="parameters"' not in html


def test_checkout_endpoint_stores_its_parameters(staff_client, cookie_api, priced_groups):
    response = staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api,
        products_list="price_gold1, price_silver1\nprice_gold1",
        trial_period_days="14",
        access_token_lifetime="999",  # belongs to another operation: dropped
    ))

    assert response.status_code == 302
    endpoint = Endpoint.objects.get(api=cookie_api, path="stripe/checkout")
    assert endpoint.parameters == {
        "products_list": ["price_gold1", "price_silver1", "price_gold1"],
        "return_url": "https://www.example.com/thanks",
        "return_err_url": "https://www.example.com/sorry",
        "trial_period_days": 14,
    }


def test_endpoint_editor_shows_stored_parameters(staff_client, cookie_api, priced_groups):
    endpoint = Endpoint.objects.create(
        api=cookie_api, path="stripe/checkout", operation="checkout",
        parameters={"products_list": ["price_gold1", "price_silver1"],
                    "return_url": "https://www.example.com/thanks"},
    )

    html = staff_client.get(f"{ENDPOINT_LIST}{endpoint.pk}/change/").content.decode()

    assert "price_gold1\nprice_silver1</textarea>" in html
    assert 'value="https://www.example.com/thanks"' in html


def test_token_endpoint_stores_lifetimes(staff_client, token_api):
    response = staff_client.post(ENDPOINT_ADD, endpoint_data(
        token_api, path="v2/token", operation="token",
        access_token_lifetime="600", refresh_token_lifetime="86400",
    ))

    assert response.status_code == 302
    endpoint = Endpoint.objects.get(api=token_api, path="v2/token")
    assert endpoint.parameters == {"access_token_lifetime": 600, "refresh_token_lifetime": 86400}


def test_changing_operation_clears_the_old_parameters(staff_client, cookie_api, priced_groups):
    endpoint = Endpoint.objects.create(
        api=cookie_api, path="stripe/checkout", operation="checkout",
        parameters={"products_list": ["price_gold1"]},
    )

    response = staff_client.post(f"{ENDPOINT_LIST}{endpoint.pk}/change/", endpoint_data(
        cookie_api, path="stripe/cancel", operation="cancel_order",
    ))

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.operation == "cancel_order"
    assert endpoint.parameters == {}


def post_refused(staff_client, api, **overrides):
    response = staff_client.post(ENDPOINT_ADD, endpoint_data(api, **overrides))
    assert response.status_code == 200
    return response


def test_duplicate_method_and_path_is_refused(staff_client, cookie_api):
    response = post_refused(staff_client, cookie_api, path="login", operation="logout")

    assert field_errors(response, "path") == [
        "This API already has a POST endpoint at “login”: each method and path once."
    ]


def test_same_path_in_another_api_is_allowed(staff_client, cookie_api, token_api):
    response = staff_client.post(ENDPOINT_ADD, endpoint_data(
        cookie_api, path="token-like", operation="logout"))
    again = staff_client.post(ENDPOINT_ADD, endpoint_data(
        token_api, path="token-like", operation="logout"))

    assert response.status_code == 302 and again.status_code == 302


def test_token_endpoint_on_cookie_api_is_refused(staff_client, cookie_api):
    response = post_refused(staff_client, cookie_api, path="token", operation="token")

    assert "only works with dynamic-token APIs" in field_errors(response, "operation")[0]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/stripe/checkout", "without a leading slash"),
        ("stripe checkout", "only contain letters, digits"),
        ("../admin", "cannot have empty, . or .. segments"),
        ("stripe//checkout", "cannot have empty, . or .. segments"),
        ("stripe?x=1", "only contain letters, digits"),
        ("openapi.json", "reserved for the API's documentation"),
    ],
)
def test_malformed_path_is_refused(staff_client, cookie_api, priced_groups, path, message):
    response = post_refused(staff_client, cookie_api, path=path)

    assert message in field_errors(response, "path")[0]


@pytest.mark.parametrize("url", ["/thanks", "www.example.com/thanks", "ftp://example.com/x",
                                 "javascript:alert(1)", "https://"])
@pytest.mark.parametrize("field", ["return_url", "return_err_url"])
def test_return_urls_must_be_absolute_http(staff_client, cookie_api, priced_groups, field, url):
    response = post_refused(staff_client, cookie_api, **{field: url})

    assert field_errors(response, field) == ["Enter an absolute http:// or https:// URL."]


def test_checkout_needs_a_return_url(staff_client, cookie_api, priced_groups):
    response = post_refused(staff_client, cookie_api, return_url="", return_err_url="")

    assert field_errors(response, "return_url") == ["A checkout endpoint needs this URL."]
    assert field_errors(response, "return_err_url") == []


def test_cancel_url_may_be_left_empty(staff_client, cookie_api, priced_groups):
    response = staff_client.post(ENDPOINT_ADD, endpoint_data(cookie_api, return_err_url=""))

    assert response.status_code == 302
    endpoint = Endpoint.objects.get(api=cookie_api, path="stripe/checkout")
    assert "return_err_url" not in endpoint.parameters


def test_empty_products_list_is_refused(staff_client, cookie_api):
    response = post_refused(staff_client, cookie_api, products_list=" , \n")

    assert field_errors(response, "products_list") == [
        "Enter at least one Stripe price ID (price_…)."
    ]


def test_malformed_price_in_products_list_is_refused(staff_client, cookie_api, priced_groups):
    response = post_refused(staff_client, cookie_api, products_list="price_gold1, prod_abc")

    assert field_errors(response, "products_list") == [
        "Not a Stripe price ID (price_…): prod_abc"
    ]


def test_price_not_linked_to_a_group_is_refused_by_name(staff_client, cookie_api, priced_groups):
    response = post_refused(
        staff_client, cookie_api, products_list="price_gold1\nprice_orphan1"
    )

    errors = field_errors(response, "products_list")
    assert len(errors) == 1
    assert errors[0].startswith("Not the price of any member group: price_orphan1.")
    assert "price_gold1" not in errors[0]


@pytest.mark.parametrize("field", ["trial_period_days", "access_token_lifetime",
                                   "refresh_token_lifetime"])
def test_numbers_must_be_positive(staff_client, token_api, priced_groups, field):
    response = post_refused(staff_client, token_api, **{field: "0"})

    assert field_errors(response, field) == ["Ensure this value is greater than or equal to 1."]


def test_rate_limit_period_must_be_positive(staff_client, cookie_api, priced_groups):
    response = post_refused(staff_client, cookie_api, rate_limit_count="5",
                            rate_limit_period="0")

    assert field_errors(response, "rate_limit_period") == ["The period is at least one second."]


def test_api_with_no_endpoints_says_so(staff_client, db):
    api = Api.objects.create(title="Empty")

    html = staff_client.get(f"{API_LIST}{api.pk}/change/").content.decode()

    assert "No endpoints yet" in html
