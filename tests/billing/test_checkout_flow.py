"""Checkout and cancel end to end: the app on live_server, Stripe = the emulator over HTTP.

The emulator sends its webhooks to live_server, so every membership change
here went through the real signed webhook path.
"""

from __future__ import annotations

import threading

import pytest
import requests

from kuroco_billing.rcms_api.models import Endpoint
from members.models import Member, MemberGroup, Membership
from payments.models import StripeSettings, SubscriptionState, WebhookEvent
from tests.fixtures.accounts import MEMBER_PASSWORD, OTHER_PASSWORD
from tests.fixtures.billing import DECLINED_CARD, create_recurring_price, pay, wait_for

from .emulator_requests import watch

pytestmark = pytest.mark.django_db(transaction=True)


class ApiClient:
    """A browser-like client of one cookie API on live_server (JSON, same origin)."""

    def __init__(self, site_url: str, api) -> None:
        self.site_url, self.api = site_url, api
        self.http = requests.Session()
        self.http.headers["Origin"] = site_url

    def post(self, path: str, data: dict | None = None) -> requests.Response:
        return self.http.post(f"{self.site_url}/rcms-api/{self.api.pk}/{path}",
                              json=data or {}, timeout=60)

    def login(self, email: str, password: str) -> ApiClient:
        response = self.post("login", {"email": email, "password": password})
        assert response.status_code == 200, response.text
        return self

    def checkout(self, data: dict | None = None) -> requests.Response:
        return self.post("stripe/checkout", data)

    def cancel(self) -> requests.Response:
        return self.post("stripe/cancel")


@pytest.fixture
def shopper(stripe_enabled, checkout_api, member):
    return ApiClient(stripe_enabled.site_url, checkout_api).login(member.email, MEMBER_PASSWORD)


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert "x-rcms-request-id" in body
    assert len(body["errors"]) >= 1
    return body["errors"][0]


def subscribe(stripe_enabled, shopper, member) -> Member:
    response = shopper.checkout()
    assert response.status_code == 200, response.text
    paid = pay(response.json()["url"])
    assert paid.status_code == 303
    stripe_enabled.drain()
    assert wait_for(lambda: Member.objects.get(pk=member.pk).stripe_subscription_id)
    return Member.objects.get(pk=member.pk)


def customers(stripe_client) -> list:
    return list(stripe_client.v1.customers.list(params={"limit": 100}).data)


def sessions(stripe_client) -> list:
    return list(stripe_client.v1.checkout.sessions.list(params={"limit": 100}).data)


# --- The happy path ------------------------------------------------------------

def test_checkout_pay_webhook_then_cancel(stripe_enabled, basic_price, shopper, member):
    _, gold = basic_price
    response = shopper.checkout()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["messages"] == [] and body["errors"] == []
    assert body["url"].startswith(f"{stripe_enabled.url}/c/pay/cs_")

    session = sessions(stripe_enabled.client)[0]
    assert session.mode == "subscription"
    assert session.success_url == f"{stripe_enabled.site_url}/thanks"
    assert session.cancel_url == f"{stripe_enabled.site_url}/sorry"
    assert session.client_reference_id == str(member.pk)
    # A first checkout makes no customer: Checkout does, for the member's email.
    assert (session.customer, session.customer_email) == (None, member.email)
    assert customers(stripe_enabled.client) == []

    paid = pay(body["url"])
    assert paid.status_code == 303
    assert paid.headers["Location"].startswith(f"{stripe_enabled.site_url}/thanks")
    stripe_enabled.drain()
    member = Member.objects.get(pk=member.pk)
    assert member.stripe_subscription_id
    # The webhook linked the customer Checkout made to the member.
    [customer] = customers(stripe_enabled.client)
    assert member.stripe_customer_id == customer.id
    assert (customer.email, customer.name) == (member.email, "Member")
    assert list(member.member_groups.all()) == [gold]
    row = Membership.objects.get(member=member, group=gold)
    assert (row.source, row.stripe_subscription_id) == ("stripe", member.stripe_subscription_id)
    subscription = stripe_enabled.client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert subscription.metadata["member_id"] == str(member.pk)
    assert WebhookEvent.objects.filter(type="customer.subscription.created",
                                       status="processed", member=member).exists()

    cancel = shopper.cancel()
    assert cancel.status_code == 200, cancel.text
    assert cancel.json() == {"status": "ok", "subscription_id": subscription.id,
                             "messages": ["Subscription canceled."], "errors": []}
    member.refresh_from_db()
    assert member.stripe_subscription_id is None
    assert not member.memberships.exists()
    assert SubscriptionState.objects.get(subscription_id=subscription.id).deleted
    assert stripe_enabled.client.v1.subscriptions.retrieve(subscription.id).status == "canceled"

    # The deleted webhook that follows changes nothing more.
    stripe_enabled.drain()
    assert wait_for(lambda: WebhookEvent.objects.filter(
        type="customer.subscription.deleted").exists())
    member.refresh_from_db()
    assert member.stripe_subscription_id is None and not member.memberships.exists()

    # And the member may subscribe again: a new session, the same customer.
    again = shopper.checkout()
    assert again.status_code == 200
    assert again.json()["url"] != body["url"]
    assert session_of(stripe_enabled.client, again.json()["url"]).customer == customer.id
    assert len(customers(stripe_enabled.client)) == 1


def test_trial_and_quantities_come_from_the_endpoint(stripe_enabled, checkout_api, shopper,
                                                     basic_price, member):
    price_id, gold = basic_price
    endpoint = Endpoint.objects.get(api=checkout_api, operation="checkout")
    endpoint.parameters = {**endpoint.parameters, "products_list": [price_id, price_id],
                           "trial_period_days": 14}
    endpoint.save()
    response = shopper.checkout()
    assert response.status_code == 200, response.text
    session = sessions(stripe_enabled.client)[0]
    items = stripe_enabled.client.v1.checkout.sessions.line_items.list(session.id).data
    assert [(i.price.id, i.quantity) for i in items] == [(price_id, 2)]
    pay(response.json()["url"])
    stripe_enabled.drain()
    member = wait_for(lambda: Member.objects.filter(pk=member.pk)
                      .exclude(stripe_subscription_id=None).first())
    subscription = stripe_enabled.client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert subscription.status == "trialing"
    assert list(member.member_groups.all()) == [gold]


def test_declined_card_grants_nothing(stripe_enabled, shopper, member):
    response = shopper.checkout()
    paid = pay(response.json()["url"], DECLINED_CARD)
    assert paid.status_code != 303
    stripe_enabled.drain()
    member.refresh_from_db()
    assert member.stripe_subscription_id is None
    assert not member.memberships.exists()


# --- Refusals --------------------------------------------------------------------

def test_refused_when_not_signed_in(stripe_enabled, checkout_api):
    anonymous = ApiClient(stripe_enabled.site_url, checkout_api)
    for response in (anonymous.checkout(), anonymous.cancel()):
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthorized"
    assert customers(stripe_enabled.client) == []


def test_refused_when_disabled(stripe_enabled, shopper, member):
    config = StripeSettings.load()
    config.enabled = False
    config.save()
    for response in (shopper.checkout(), shopper.cancel()):
        assert response.status_code == 503
        error = error_of(response)
        assert error["code"] == "service_unavailable"
        assert "disabled" in error["message"]
    assert customers(stripe_enabled.client) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "price_cheap"),
        ("products_list", ["price_cheap"]),
        ("quantity", 100),
        ("line_items", [{"price": "price_cheap", "quantity": 1}]),
        ("success_url", "https://evil.example/ok"),
        ("cancel_url", "https://evil.example/no"),
        ("return_url", "https://evil.example/ok"),
        ("return_err_url", "https://evil.example/no"),
        ("mode", "payment"),
        ("customer_email", "guest@example.com"),
    ],
)
def test_body_cannot_choose_what_is_sold(stripe_enabled, shopper, member, field, value):
    response = shopper.checkout({field: value})
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["field"]) == ("bad_request", field)
    assert error["message"]
    assert customers(stripe_enabled.client) == []
    assert sessions(stripe_enabled.client) == []


def test_one_time_price_is_refused(stripe_enabled, checkout_api, shopper, member):
    # Prices are checked when a group is given one (the admin refuses a one-time
    # price), not on every checkout: a one-time price is never a group's, so it
    # is refused here without asking Stripe.
    product = stripe_enabled.client.v1.products.create(params={"name": "Ebook"})
    one_time = stripe_enabled.client.v1.prices.create(params={
        "product": product.id, "currency": "usd", "unit_amount": 500})
    endpoint = Endpoint.objects.get(api=checkout_api, operation="checkout")
    endpoint.parameters = {**endpoint.parameters, "products_list": [one_time.id]}
    endpoint.save()
    response = shopper.checkout()
    assert response.status_code == 422
    error = error_of(response)
    assert one_time.id in error["message"] and "grant nothing" in error["message"]
    assert error["field"] == "products_list"
    assert sessions(stripe_enabled.client) == []


def test_one_time_price_slipped_past_the_admin_is_refused_by_stripe(
        stripe_enabled, checkout_api, shopper, member):
    # Linked straight in the database, bypassing the admin's check: Stripe itself
    # refuses a subscription Checkout without a recurring price.
    product = stripe_enabled.client.v1.products.create(params={"name": "Ebook"})
    one_time = stripe_enabled.client.v1.prices.create(params={
        "product": product.id, "currency": "usd", "unit_amount": 500})
    MemberGroup.objects.create(name="Ebook", stripe_price_id=one_time.id)
    endpoint = Endpoint.objects.get(api=checkout_api, operation="checkout")
    endpoint.parameters = {**endpoint.parameters, "products_list": [one_time.id]}
    endpoint.save()
    response = shopper.checkout()
    assert response.status_code == 422
    assert "recurring" in error_of(response)["message"]
    assert sessions(stripe_enabled.client) == []


def test_already_subscribed_is_a_conflict(stripe_enabled, shopper, member):
    subscribe(stripe_enabled, shopper, member)
    response = shopper.checkout()
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert "already have a subscription" in error["message"]
    assert len(sessions(stripe_enabled.client)) == 1


def test_cancel_without_subscription_is_a_conflict(stripe_enabled, shopper):
    response = shopper.cancel()
    assert response.status_code == 409
    assert error_of(response)["message"] == "You have no subscription to cancel."


def test_a_member_only_cancels_their_own(stripe_enabled, checkout_api, shopper, member,
                                         other_member):
    member = subscribe(stripe_enabled, shopper, member)
    other = ApiClient(stripe_enabled.site_url, checkout_api).login(other_member.email,
                                                                     OTHER_PASSWORD)
    # Whatever the body says, only the caller's own stored subscription is used.
    response = other.post("stripe/cancel", {"subscription_id": member.stripe_subscription_id})
    assert response.status_code == 409
    subscription = stripe_enabled.client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert subscription.status == "active"
    assert Member.objects.get(pk=member.pk).member_groups.count() == 1


def test_cancel_when_stripe_already_canceled(stripe_enabled, shopper, member):
    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    # Canceled in Stripe, and the webhook lost: the member still looks subscribed here.
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})
    stripe_enabled.client.v1.subscriptions.cancel(sub_id)
    response = shopper.cancel()
    assert response.status_code == 200, response.text
    assert response.json()["subscription_id"] == sub_id
    member.refresh_from_db()
    assert member.stripe_subscription_id is None
    assert not member.memberships.exists()


# --- Concurrency and faults --------------------------------------------------------

def test_parallel_checkouts_make_one_customer_and_one_session(stripe_enabled, checkout_api,
                                                              member):
    clients = [ApiClient(stripe_enabled.site_url, checkout_api).login(member.email,
                                                                      MEMBER_PASSWORD)
               for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    responses: list[requests.Response] = []

    def go(client: ApiClient) -> None:
        barrier.wait()
        responses.append(client.checkout())

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in responses] == [200] * len(clients), \
        [r.text for r in responses]
    assert len({r.json()["url"] for r in responses}) == 1
    assert len(sessions(stripe_enabled.client)) == 1
    assert customers(stripe_enabled.client) == []  # Checkout makes it, once, when paid


@pytest.mark.parametrize("mode", ["500", "429", "drop"])
def test_checkout_fault_answers_502_then_a_retry_succeeds(stripe_enabled, shopper, member,
                                                          mode):
    stripe_enabled.fault("/v1/checkout/sessions", method="POST", mode=mode)
    response = shopper.checkout()
    assert response.status_code == 502, response.text
    error = error_of(response)
    assert error["code"] == "bad_gateway"
    assert "sk_" not in response.text and "Traceback" not in response.text
    member.refresh_from_db()
    assert member.stripe_subscription_id is None
    assert sessions(stripe_enabled.client) == []

    retry = shopper.checkout()
    assert retry.status_code == 200, retry.text
    assert len(sessions(stripe_enabled.client)) == 1
    assert pay(retry.json()["url"]).status_code == 303
    stripe_enabled.drain()
    member.refresh_from_db()
    assert member.stripe_customer_id == customers(stripe_enabled.client)[0].id


@pytest.mark.parametrize("stage", ["before", "during"])
@pytest.mark.parametrize(("mode", "new_key"), [("500", True), ("drop", False)])
def test_idempotency_key_after_a_fault(stripe_enabled, emulator, shopper, member, mode,
                                       new_key, stage):
    """A 5xx is saved by Stripe under its key (retry with a new one); a lost
    connection may have done the work (retry with the same one).

    ``stage=during``: the request began executing, so the emulator saves its
    answer under the key as Stripe does (an emulator without stages treats it
    as ``before``). A retry with the same key after that 500 would get the 500
    again and answer 502, not 200; after the drop it gets the session made.
    """
    requests_seen = watch(emulator)
    stripe_enabled.post("/_emulator/faults", path="/v1/checkout/sessions", method="POST",
                        mode=mode, count=1, stage=stage)
    assert shopper.checkout().status_code == 502
    assert shopper.checkout().status_code == 200
    first, second = requests_seen.keys("POST", "/v1/checkout/sessions")
    assert first.startswith("kb-checkout-")
    assert (second == f"{first}-g1") is new_key
    assert (second == first) is not new_key
    assert len(sessions(stripe_enabled.client)) == 1


def test_checkout_timeout_answers_502(stripe_enabled, shopper, member, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 1
    stripe_enabled.post("/_emulator/faults", path="/v1/checkout/sessions", method="POST",
                        mode="hang", count=1, seconds=3)
    response = shopper.checkout()
    assert response.status_code == 502
    assert "timeout" in error_of(response)["message"]
    assert shopper.checkout().status_code == 200
    assert len(sessions(stripe_enabled.client)) == 1


def test_stripe_rejecting_a_parameter_answers_422(stripe_enabled, checkout_api, shopper,
                                                  basic_price, member):
    # Monthly and yearly prices cannot share one Checkout Session: Stripe says so.
    price_id, _ = basic_price
    yearly = create_recurring_price(stripe_enabled.client, interval="year", name="Yearly")
    MemberGroup.objects.create(name="Yearly", stripe_price_id=yearly)
    endpoint = Endpoint.objects.get(api=checkout_api, operation="checkout")
    endpoint.parameters = {**endpoint.parameters, "products_list": [price_id, yearly]}
    endpoint.save()
    response = shopper.checkout()
    # The endpoint's configuration, not the request: nothing the front end could change.
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "unprocessable_entity"
    assert "field" not in error  # Stripe's "line_items" is not a field of the request
    assert error["message"].startswith("Stripe refused the request: ")
    assert "interval" in error["message"]
    assert sessions(stripe_enabled.client) == []


def test_cancel_fault_leaves_local_state_then_retry_succeeds(stripe_enabled, basic_price,
                                                             shopper, member):
    _, gold = basic_price
    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    stripe_enabled.fault(f"/v1/subscriptions/{sub_id}", method="DELETE", mode="500")
    response = shopper.cancel()
    assert response.status_code == 502
    assert error_of(response)["code"] == "bad_gateway"
    member.refresh_from_db()
    assert member.stripe_subscription_id == sub_id
    assert list(member.member_groups.all()) == [gold]
    assert stripe_enabled.client.v1.subscriptions.retrieve(sub_id).status == "active"

    response = shopper.cancel()
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.stripe_subscription_id is None
    assert not member.memberships.exists()


def test_hand_given_groups_survive_checkout_and_cancel(stripe_enabled, basic_price, shopper,
                                                       member):
    _, gold = basic_price
    staff = MemberGroup.objects.create(name="Staff")
    Membership.objects.create(member=member, group=gold, source="admin")
    Membership.objects.create(member=member, group=staff, source="admin")
    subscribe(stripe_enabled, shopper, member)
    assert shopper.cancel().status_code == 200
    stripe_enabled.drain()
    rows = sorted(Membership.objects.filter(member=member).values_list("group__name", "source"))
    assert rows == [("Gold", "admin"), ("Staff", "admin")]



# --- One open session per member ------------------------------------------------------

@pytest.fixture
def silver_endpoint(stripe_enabled, checkout_api):
    """A second checkout endpoint on the same API: another price, other return URLs."""
    price_id = create_recurring_price(stripe_enabled.client, amount=500, name="Silver plan")
    group = MemberGroup.objects.create(name="Silver", stripe_price_id=price_id)
    Endpoint.objects.create(api=checkout_api, path="stripe/checkout-silver",
                            operation="checkout", parameters={
                                "products_list": [price_id],
                                "return_url": f"{stripe_enabled.site_url}/silver-thanks",
                            })
    return price_id, group


def session_of(stripe_client, url: str):
    return stripe_client.v1.checkout.sessions.retrieve(url.rsplit("/", 1)[-1])


def test_a_second_checkout_expires_the_first_session(stripe_enabled, shopper, member,
                                                     basic_price, silver_endpoint):
    gold_url = shopper.checkout().json()["url"]
    silver = shopper.post("stripe/checkout-silver")
    assert silver.status_code == 200, silver.text
    silver_url = silver.json()["url"]
    assert silver_url != gold_url

    # The first session can no longer be paid: the member cannot be billed twice.
    assert session_of(stripe_enabled.client, gold_url).status == "expired"
    refused = pay(gold_url)
    assert refused.status_code == 409
    assert "expired" in refused.text
    assert session_of(stripe_enabled.client, silver_url).status == "open"
    assert [s.id for s in sessions(stripe_enabled.client) if s.status == "open"] == [
        session_of(stripe_enabled.client, silver_url).id]

    assert pay(silver_url).status_code == 303
    stripe_enabled.drain()
    member = Member.objects.get(pk=member.pk)
    assert member.stripe_subscription_id
    assert list(member.member_groups.all()) == [silver_endpoint[1]]
    subscriptions = stripe_enabled.client.v1.subscriptions.list(params={"status": "all"}).data
    assert len(subscriptions) == 1


def test_back_to_the_first_endpoint_gets_a_new_payable_session(stripe_enabled, shopper, member,
                                                               basic_price, silver_endpoint):
    gold_url = shopper.checkout().json()["url"]
    silver_url = shopper.post("stripe/checkout-silver").json()["url"]
    assert shopper.post("stripe/checkout-silver").json()["url"] == silver_url  # a double click

    again = shopper.checkout()
    assert again.status_code == 200, again.text
    new_gold_url = again.json()["url"]
    assert new_gold_url not in (gold_url, silver_url)  # not Stripe's replay of the expired one
    assert session_of(stripe_enabled.client, new_gold_url).status == "open"
    assert session_of(stripe_enabled.client, silver_url).status == "expired"
    assert pay(new_gold_url).status_code == 303


def test_a_price_no_group_grants_is_refused(stripe_enabled, checkout_api, shopper, member,
                                            basic_price):
    price_id, _ = basic_price
    orphan = create_recurring_price(stripe_enabled.client, amount=700, name="Orphan plan")
    endpoint = Endpoint.objects.get(api=checkout_api, operation="checkout")
    endpoint.parameters = {**endpoint.parameters, "products_list": [price_id, orphan]}
    endpoint.save()

    response = shopper.checkout()

    assert response.status_code == 422, response.text
    error = error_of(response)
    assert (error["code"], error["field"]) == ("unprocessable_entity", "products_list")
    assert orphan in error["message"] and price_id not in error["message"]
    assert sessions(stripe_enabled.client) == []
    assert customers(stripe_enabled.client) == []


def test_stripe_call_log_lines_name_the_member(stripe_enabled, shopper, member, caplog):
    with caplog.at_level("INFO", logger="payments.stripe"):
        assert shopper.checkout().status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "payments.stripe"]
    assert any("method=POST resource=/v1/checkout/sessions outcome=ok" in line
               and line.endswith(f"member={member.pk}") for line in lines), lines
    assert all(f"member={member.pk}" in line for line in lines), lines
    secret = StripeSettings.load().secret_key
    assert not any(secret in line or "whsec_" in line for line in lines)
