"""Malformed and oversized parameters: always a 4xx in Stripe's error format, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def post(emulator, path: str, body: str | bytes) -> requests.Response:
    return requests.post(f"{emulator.url}{path}", data=body, timeout=30,
                         headers={**FORM, "Authorization": f"Bearer {emulator.secret_key}"})


def assert_stripe_error(response: requests.Response, status: int = 400) -> dict:
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) >= {"type", "code", "message", "param"}
    return error


def customer_count(stripe_client) -> int:
    return len(stripe_client.v1.customers.list(params={"limit": 100}).data)


@pytest.mark.parametrize("body", [
    "a" + "[x]" * 5000 + "=1",                # nested 5,000 deep
    "metadata" + "[x]" * 40 + "=1",          # deeper than any Stripe parameter
    "===&&&[[[]]]",
    "[=1",                                   # no name, only a bracket
    "[x]=1",
    "a]b[=1",                                # mismatched brackets
    "a[b=1",
    "a[b]]=1",
    "a[[b]]=1",
    "name=A&name[x]=B",                      # a value and a hash under one name
    "metadata[k][x]=1&metadata[k]=2",
    "&".join(f"k{i}=v" for i in range(20_000)),  # far too many parameters
])
def test_malformed_parameters_are_400_and_change_nothing(stripe_client, emulator, body):
    error = assert_stripe_error(post(emulator, "/v1/customers", body))
    assert "unknown error" not in error["message"]
    assert customer_count(stripe_client) == 0


def test_malformed_query_string_on_a_get_is_400(emulator):
    response = requests.get(f"{emulator.url}/v1/customers?limit[[=1&" + "a" + "[x]" * 3000,
                            headers={"Authorization": f"Bearer {emulator.secret_key}"})
    assert_stripe_error(response)


def test_a_body_over_the_size_limit_is_refused_in_stripes_format(emulator):
    response = post(emulator, "/v1/customers", "name=" + "x" * (9 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_well_formed_nesting_still_works(stripe_client):
    customer = stripe_client.v1.customers.create(params={
        "name": "A", "metadata": {"a": "1", "b": "2"}, "expand": ["invoice_settings"]})
    assert customer.metadata.to_dict() == {"a": "1", "b": "2"}


# -- fuzzing ---------------------------------------------------------------------------------

# Names built from the characters that matter to the decoder, values from anything.
NAME_PARTS = st.sampled_from(["a", "b", "metadata", "line_items", "0", "1", "[", "]", "[]",
                              "[0]", "[a]", "=", "&", "%", "%5B", "%5D", "", "name", "expand",
                              "\x00", "é", "[[", "]]"])
NAMES = st.lists(NAME_PARTS, min_size=0, max_size=12).map("".join)
VALUES = st.one_of(st.text(max_size=20), st.sampled_from(["", "=", "&", "[]", "1e400", "-1",
                                                          "99999999999999999999999"]))
PAIRS = st.lists(st.tuples(NAMES, VALUES), max_size=15)
RAW = st.one_of(
    PAIRS.map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
    st.binary(max_size=200),
)
ENDPOINTS = st.sampled_from([
    ("POST", "/v1/customers"), ("POST", "/v1/prices"), ("POST", "/v1/products"),
    ("POST", "/v1/checkout/sessions"), ("POST", "/v1/webhook_endpoints"),
    ("GET", "/v1/customers"), ("GET", "/v1/events"),
])


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=ENDPOINTS, body=RAW)
def test_fuzzed_form_bodies_answer_2xx_or_4xx_in_stripes_format(emulator, endpoint, body):
    method, path = endpoint
    headers = {**FORM, "Authorization": f"Bearer {emulator.secret_key}"}
    if method == "GET":
        query = body.decode("latin-1") if isinstance(body, bytes) else body
        # Brackets, "=" and "&" stay raw; only what a URL cannot carry is escaped.
        response = requests.get(f"{emulator.url}{path}?{quote(query, safe='[]=&%')}",
                                headers=headers, timeout=30)
    else:
        response = requests.post(f"{emulator.url}{path}", data=body, headers=headers,
                                 timeout=30)
    assert 200 <= response.status_code < 500, (body, response.text[:500])
    payload = response.json()
    if response.status_code >= 400:
        error = payload["error"]
        assert error["type"] == "invalid_request_error"
        assert isinstance(error["message"], str)
        assert {"code", "param"} <= set(error)


def test_the_sdk_sees_an_invalid_request_error(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.create(params={"name": "x" * 5001})
    assert info.value.param == "name"


FORM_FIELDS = st.dictionaries(
    st.sampled_from(["url", "description", "enabled_events", "name", "amount", "currency",
                     "interval", "days", "enabled", "card_number", "x[y]", "[", "a]b"]),
    st.one_of(st.text(max_size=30), st.sampled_from(["http://[::1", "1e400", "nan", "-1",
                                                     "99999999999999999999", "*"])),
    max_size=6)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/webhooks", "/products", "/clock"]), form=FORM_FIELDS)
def test_fuzzed_dashboard_forms_never_answer_500(emulator, path, form):
    response = requests.post(f"{emulator.url}{path}", data=form, timeout=30)
    assert response.status_code < 500, (form, response.text[:500])
