"""Self-service operations end to end: portal, plans, change_plan, cancel at period end, resume,
subscription, invoices. The app on live_server, Stripe = the emulator, webhooks for real.
"""

from __future__ import annotations

import pytest
import requests

from kuroco_billing.rcms_api.models import Endpoint
from members.models import Member, MemberGroup
from payments.models import StripeSettings, SubscriptionChange, SubscriptionState
from payments.services.admin_billing import run_action
from tests.fixtures.accounts import MEMBER_PASSWORD, OTHER_PASSWORD
from tests.fixtures.billing import (
    RENEWAL_FAILS_CARD,
    create_recurring_price,
    pay,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 86400


class ApiClient:
    """A browser-like client of one cookie API on live_server (JSON, same origin)."""

    def __init__(self, site_url: str, api) -> None:
        self.site_url, self.api = site_url, api
        self.http = requests.Session()
        self.http.headers["Origin"] = site_url

    def url(self, path: str) -> str:
        return f"{self.site_url}/rcms-api/{self.api.pk}/{path}"

    def post(self, path: str, data: dict | None = None) -> requests.Response:
        return self.http.post(self.url(path), json=data or {}, timeout=60)

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.url(path), params=params, timeout=60)

    def login(self, email: str, password: str) -> ApiClient:
        response = self.post("login", {"email": email, "password": password})
        assert response.status_code == 200, response.text
        return self


def store_details(group: MemberGroup) -> None:
    from payments.setup_checks import check_group_price

    group.set_price_details(check_group_price(group.stripe_price_id).details)
    group.save()


@pytest.fixture
def plans(stripe_enabled, basic_price):
    """Gold (the checkout's price, monthly 10.00 USD) and Silver (monthly 5.00 USD)."""
    gold_price, gold = basic_price
    silver_price = create_recurring_price(stripe_enabled.client, amount=500, name="Silver plan")
    silver = MemberGroup.objects.create(name="Silver", stripe_price_id=silver_price)
    store_details(gold)
    store_details(silver)
    return {"gold": (gold_price, gold), "silver": (silver_price, silver)}


@pytest.fixture
def api(checkout_api, plans, stripe_enabled):
    """The checkout API plus every self-service endpoint, offering Gold and Silver."""
    offered = [plans["gold"][0], plans["silver"][0]]
    for path, operation, parameters in [
        ("stripe/portal", "portal", {"return_url": f"{stripe_enabled.site_url}/account"}),
        ("stripe/plans", "plans", {"products_list": offered}),
        ("stripe/change_plan", "change_plan", {"products_list": offered}),
        ("stripe/resume", "resume", {}),
        ("stripe/subscription", "subscription", {}),
        ("stripe/invoices", "invoices", {}),
        ("stripe/cancel_at_period_end", "cancel_order", {"at_period_end": True}),
    ]:
        Endpoint.objects.create(api=checkout_api, path=path, operation=operation,
                                parameters=parameters)
    return checkout_api


@pytest.fixture
def shopper(stripe_enabled, api, member):
    return ApiClient(stripe_enabled.site_url, api).login(member.email, MEMBER_PASSWORD)


def subscribe(stripe_enabled, client, member, card: str = "4242424242424242") -> Member:
    response = client.post("stripe/checkout")
    assert response.status_code == 200, response.text
    assert pay(response.json()["url"], card).status_code == 303
    stripe_enabled.drain()
    assert wait_for(lambda: Member.objects.get(pk=member.pk).stripe_subscription_id)
    return Member.objects.get(pk=member.pk)


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert "x-rcms-request-id" in body
    return body["errors"][0]


def groups_of(member: Member) -> list[str]:
    return sorted(Member.objects.get(pk=member.pk).member_groups.values_list("name", flat=True))


# --- plans and subscription ------------------------------------------------------------

def test_plans_and_subscription_before_and_after_subscribing(stripe_enabled, plans, shopper,
                                                             member):
    gold_price, gold = plans["gold"]
    silver_price, silver = plans["silver"]

    before = shopper.get("stripe/plans")
    assert before.status_code == 200, before.text
    assert before.json()["list"] == [
        {"price_id": gold_price, "product_name": "Gold plan", "amount": 1000,
         "currency": "usd", "interval": "month", "group_ids": {str(gold.pk): "Gold"},
         "current": False},
        {"price_id": silver_price, "product_name": "Silver plan", "amount": 500,
         "currency": "usd", "interval": "month", "group_ids": {str(silver.pk): "Silver"},
         "current": False},
    ]
    assert shopper.get("stripe/subscription").json()["subscription"] is None

    member = subscribe(stripe_enabled, shopper, member)

    assert [p["current"] for p in shopper.get("stripe/plans").json()["list"]] == [True, False]
    body = shopper.get("stripe/subscription").json()
    subscription = body["subscription"]
    state = SubscriptionState.objects.get(subscription_id=member.stripe_subscription_id)
    assert subscription == {
        "id": member.stripe_subscription_id, "status": "active", "price_id": gold_price,
        "product_name": "Gold plan", "amount": 1000, "currency": "usd", "interval": "month",
        "current_period_end": int(state.current_period_end.timestamp()),
        "cancel_at_period_end": False, "cancel_at": None, "trial_end": None,
        "group_ids": {str(gold.pk): "Gold"},
    }
    assert body["errors"] == [] and body["messages"] == []


# --- change_plan ----------------------------------------------------------------------

def test_change_plan_moves_the_groups_when_the_updated_event_arrives(stripe_enabled, plans,
                                                                    shopper, member):
    silver_price, _ = plans["silver"]
    member = subscribe(stripe_enabled, shopper, member)
    assert groups_of(member) == ["Gold"]

    response = shopper.post("stripe/change_plan", {"price_id": silver_price})

    assert response.status_code == 200, response.text
    body = {k: v for k, v in response.json().items() if k != "x-rcms-request-id"}
    assert body == {
        "status": "ok", "subscription_id": member.stripe_subscription_id,
        "price_id": silver_price, "messages": ["Plan changed."], "errors": [],
    }
    stripe_subscription = stripe_enabled.client.v1.subscriptions.retrieve(
        member.stripe_subscription_id)
    assert stripe_subscription["items"]["data"][0]["price"]["id"] == silver_price
    stripe_enabled.drain()
    assert wait_for(lambda: groups_of(member) == ["Silver"])
    assert shopper.get("stripe/subscription").json()["subscription"]["price_id"] == silver_price
    change = SubscriptionChange.objects.get()
    assert (change.action, change.status) == ("change_plan", "done")
    assert change.params["proration_behavior"] == "create_prorations"


def test_change_plan_refusals_change_nothing(stripe_enabled, plans, shopper, member):
    gold_price, _ = plans["gold"]
    silver_price, _ = plans["silver"]
    outside = create_recurring_price(stripe_enabled.client, amount=700, name="Bronze")
    MemberGroup.objects.create(name="Bronze", stripe_price_id=outside)

    no_subscription = shopper.post("stripe/change_plan", {"price_id": silver_price})
    assert no_subscription.status_code == 409
    assert error_of(no_subscription)["message"] == "You have no subscription."

    member = subscribe(stripe_enabled, shopper, member)
    not_offered = shopper.post("stripe/change_plan", {"price_id": outside})
    same = shopper.post("stripe/change_plan", {"price_id": gold_price})
    chooses_proration = shopper.post("stripe/change_plan", {
        "price_id": silver_price, "proration_behavior": "none"})
    names_a_subscription = shopper.post("stripe/change_plan", {
        "price_id": silver_price, "subscription_id": "sub_somebody"})
    malformed = shopper.post("stripe/change_plan", {"price_id": "gold"})
    missing = shopper.post("stripe/change_plan", {})

    assert (not_offered.status_code, error_of(not_offered)) == (
        400, {"code": "bad_request", "message": "This plan is not offered here.",
              "field": "price_id"})
    assert (same.status_code, error_of(same)["message"]) == (409, "You are already on this plan.")
    assert chooses_proration.status_code == 400
    assert error_of(chooses_proration)["field"] == "proration_behavior"
    assert names_a_subscription.status_code == 400
    assert error_of(names_a_subscription)["field"] == "subscription_id"
    assert (malformed.status_code, error_of(malformed)["field"]) == (400, "price_id")
    assert (missing.status_code, error_of(missing)["field"]) == (400, "price_id")
    stripe_subscription = stripe_enabled.client.v1.subscriptions.retrieve(
        member.stripe_subscription_id)
    assert stripe_subscription["items"]["data"][0]["price"]["id"] == gold_price
    assert groups_of(member) == ["Gold"]
    assert not SubscriptionChange.objects.exists()


def test_a_failed_always_invoice_payment_is_a_402_and_keeps_the_plan(stripe_enabled, plans,
                                                                    api, shopper, member):
    gold_price, _ = plans["gold"]
    silver_price, _ = plans["silver"]
    Endpoint.objects.filter(api=api, path="stripe/change_plan").update(parameters={
        "products_list": [gold_price, silver_price], "proration_behavior": "always_invoice"})
    # Upgrading from Silver to Gold is charged at once, and this card fails after checkout.
    Endpoint.objects.filter(api=api, path="stripe/checkout").update(parameters={
        **Endpoint.objects.get(api=api, path="stripe/checkout").parameters,
        "products_list": [silver_price]})
    member = subscribe(stripe_enabled, shopper, member, card=RENEWAL_FAILS_CARD)
    assert groups_of(member) == ["Silver"]

    response = shopper.post("stripe/change_plan", {"price_id": gold_price})

    assert response.status_code == 402, response.text
    error = error_of(response)
    assert error["code"] == "payment_failed"
    assert error["message"].startswith("The payment failed:")
    assert error["message"].endswith("Nothing was changed.")
    stripe_subscription = stripe_enabled.client.v1.subscriptions.retrieve(
        member.stripe_subscription_id)
    assert stripe_subscription["items"]["data"][0]["price"]["id"] == silver_price
    assert stripe_subscription["status"] == "active"
    stripe_enabled.drain()
    assert groups_of(member) == ["Silver"]
    assert SubscriptionChange.objects.get().status == "failed"


def test_plan_changes_racing_their_webhooks_end_on_stripes_last_plan(stripe_enabled, plans,
                                                                    shopper, member):
    gold_price, _ = plans["gold"]
    silver_price, _ = plans["silver"]
    member = subscribe(stripe_enabled, shopper, member)
    # Every event sent twice, shuffled: the updated events race each other and the answers.
    stripe_enabled.chaos(True)

    for price in (silver_price, gold_price, silver_price):
        assert shopper.post("stripe/change_plan", {"price_id": price}).status_code == 200

    stripe_enabled.drain()
    assert groups_of(member) == ["Silver"]
    state = SubscriptionState.objects.get(subscription_id=member.stripe_subscription_id)
    assert state.price_ids == [silver_price]


def test_a_member_never_changes_another_members_subscription(stripe_enabled, plans, api,
                                                             shopper, member, other_member):
    silver_price, _ = plans["silver"]
    subscribe(stripe_enabled, shopper, member)
    other = ApiClient(stripe_enabled.site_url, api).login(other_member.email, OTHER_PASSWORD)

    for path, body in [("stripe/change_plan", {"price_id": silver_price}),
                       ("stripe/resume", {}), ("stripe/cancel_at_period_end", {})]:
        response = other.post(path, body)
        assert response.status_code == 409, (path, response.text)
    assert other.get("stripe/subscription").json()["subscription"] is None
    assert other.get("stripe/invoices").json()["list"] == []
    portal = other.post("stripe/portal")
    assert portal.status_code == 409
    assert groups_of(member) == ["Gold"]


# --- cancel at period end and resume ---------------------------------------------------

def test_cancel_at_period_end_keeps_the_groups_resume_undoes_it(stripe_enabled, plans,
                                                                shopper, member):
    member = subscribe(stripe_enabled, shopper, member)

    nothing = shopper.post("stripe/resume")
    assert (nothing.status_code, error_of(nothing)["message"]) == (
        409, "No cancellation is scheduled.")

    response = shopper.post("stripe/cancel_at_period_end")
    assert response.status_code == 200, response.text
    body = response.json()
    stripe_subscription = stripe_enabled.client.v1.subscriptions.retrieve(
        member.stripe_subscription_id)
    assert body["cancel_at"] == stripe_subscription["cancel_at"]
    assert body["subscription_id"] == member.stripe_subscription_id
    import datetime

    ends = datetime.datetime.fromtimestamp(body["cancel_at"], tz=datetime.UTC).date()
    assert body["messages"] == [f"Your subscription ends on {ends.isoformat()}."]
    stripe_enabled.drain()
    assert wait_for(lambda: shopper.get("stripe/subscription").json()["subscription"][
        "cancel_at_period_end"])
    assert groups_of(member) == ["Gold"]

    resumed = shopper.post("stripe/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["messages"] == ["Subscription resumed."]
    stripe_enabled.drain()
    assert wait_for(lambda: not shopper.get("stripe/subscription").json()["subscription"][
        "cancel_at_period_end"])

    assert shopper.post("stripe/cancel_at_period_end").status_code == 200
    stripe_enabled.advance(32 * DAY)
    assert wait_for(lambda: groups_of(member) == [])
    late = shopper.post("stripe/resume")
    assert late.status_code == 409
    assert error_of(late)["message"] in (
        "Your subscription has already ended; it cannot be resumed.", "You have no subscription.")


def test_the_immediate_cancel_stays_the_default(stripe_enabled, plans, shopper, member):
    member = subscribe(stripe_enabled, shopper, member)

    response = shopper.post("stripe/cancel")

    assert response.status_code == 200
    assert response.json()["messages"] == ["Subscription canceled."]
    assert groups_of(member) == []


def test_the_front_end_cannot_choose_at_period_end(stripe_enabled, plans, shopper, member):
    subscribe(stripe_enabled, shopper, member)

    response = shopper.post("stripe/cancel", {"at_period_end": True})

    assert response.status_code == 400
    assert error_of(response)["field"] == "at_period_end"
    assert groups_of(member) == ["Gold"]


# --- portal and invoices --------------------------------------------------------------

def test_portal(stripe_enabled, plans, shopper, member):
    no_customer = shopper.post("stripe/portal")
    assert (no_customer.status_code, error_of(no_customer)["message"]) == (
        409, "You have no billing account yet: subscribe first.")
    chooses_url = shopper.post("stripe/portal", {"return_url": "https://evil.example/"})
    assert (chooses_url.status_code, error_of(chooses_url)["field"]) == (400, "return_url")

    subscribe(stripe_enabled, shopper, member)
    response = shopper.post("stripe/portal")

    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert url.startswith(f"{stripe_enabled.url}/p/session/")
    page = requests.get(url, timeout=30).text
    assert f"{stripe_enabled.site_url}/account" in page


def test_invoices(stripe_enabled, plans, shopper, member):
    assert shopper.get("stripe/invoices").json()["list"] == []
    member = subscribe(stripe_enabled, shopper, member)

    response = shopper.get("stripe/invoices")

    assert response.status_code == 200, response.text
    [invoice] = response.json()["list"]
    assert set(invoice) == {"id", "number", "status", "amount_due", "amount_paid", "currency",
                            "created", "period_start", "period_end", "hosted_invoice_url",
                            "invoice_pdf"}
    assert (invoice["status"], invoice["amount_paid"], invoice["currency"]) == ("paid", 1000,
                                                                               "usd")
    assert requests.get(invoice["hosted_invoice_url"], timeout=30).status_code == 200
    for bad in ("0", "25", "x"):
        refused = shopper.get("stripe/invoices", limit=bad)
        assert (refused.status_code, error_of(refused)["field"]) == (400, "limit")
    stripe_enabled.advance(32 * DAY)
    assert len(shopper.get("stripe/invoices").json()["list"]) == 2
    assert len(shopper.get("stripe/invoices", limit=1).json()["list"]) == 1


# --- every operation: guests and a disabled integration ----------------------------------

OPERATIONS = [("post", "stripe/portal"), ("get", "stripe/plans"),
              ("post", "stripe/change_plan"), ("post", "stripe/resume"),
              ("get", "stripe/subscription"), ("get", "stripe/invoices"),
              ("post", "stripe/cancel_at_period_end")]


def test_guests_get_401(stripe_enabled, api):
    guest = ApiClient(stripe_enabled.site_url, api)
    for method, path in OPERATIONS:
        response = getattr(guest, method)(path)
        assert response.status_code == 401, (path, response.text)
        assert error_of(response)["code"] == "unauthorized"


def test_stripe_disabled_gives_503(stripe_enabled, plans, shopper):
    config = StripeSettings.load()
    config.enabled = False
    config.save()
    silver_price, _ = plans["silver"]
    for method, path in OPERATIONS:
        body = {"price_id": silver_price} if path.endswith("change_plan") else None
        response = shopper.post(path, body) if method == "post" else shopper.get(path)
        assert response.status_code == 503, (path, response.text)
        assert error_of(response)["code"] == "service_unavailable"


# --- Stripe failing ------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "stage", "status"), [
    ("500", "before", "pending"), ("drop", "during", "pending")])
def test_stripe_failing_on_the_change_is_a_502_and_the_intent_says_so(
        stripe_enabled, plans, shopper, member, mode, stage, status):
    silver_price, _ = plans["silver"]
    gold_price, _ = plans["gold"]
    member = subscribe(stripe_enabled, shopper, member)
    stripe_enabled.post("/_emulator/faults", path="/v1/subscriptions/", method="POST",
                        mode=mode, stage=stage, count=1)

    response = shopper.post("stripe/change_plan", {"price_id": silver_price})

    assert response.status_code == 502, response.text
    assert error_of(response)["code"] == "bad_gateway"
    change = SubscriptionChange.objects.get()
    assert change.status == status and change.error
    assert change.key.startswith("kb-subchange-")
    # A retry is a new intent; if Stripe did the first, it answers "already on this plan".
    retry = shopper.post("stripe/change_plan", {"price_id": silver_price})
    assert retry.status_code in (200, 409), retry.text
    stripe_enabled.drain()
    assert wait_for(lambda: groups_of(member) == ["Silver"])
    assert gold_price not in SubscriptionState.objects.get(
        subscription_id=member.stripe_subscription_id).price_ids


# --- Round trips, keys and the race with the updated event ----------------------------------

def test_one_read_and_one_keyed_update_per_change_and_the_event_first(emulator, stripe_enabled,
                                                                      plans, shopper, member):
    from .emulator_requests import watch

    silver_price, _ = plans["silver"]
    member = subscribe(stripe_enabled, shopper, member)
    log = watch(emulator)
    # The updated event is delivered and applied before the change's answer gets back.
    log.on("POST", f"/v1/subscriptions/{member.stripe_subscription_id}", "after",
           stripe_enabled.drain)

    response = shopper.post("stripe/change_plan", {"price_id": silver_price})

    assert response.status_code == 200, response.text
    assert groups_of(member) == ["Silver"]  # already: the event came first
    # (The webhook may ask Stripe too, after these: an event in the same second as the
    # last one applied is settled by fetching the subscription.)
    assert log.calls()[:2] == [f"GET /v1/subscriptions/{member.stripe_subscription_id}",
                               f"POST /v1/subscriptions/{member.stripe_subscription_id}"]
    assert log.keys("POST", "/v1/subscriptions/") == [SubscriptionChange.objects.get().key]
    log.clear()

    shopper.get("stripe/subscription")
    shopper.get("stripe/plans")
    assert log.calls() == []  # answered from the database


def test_resume_after_the_period_ended_while_the_deleted_event_is_lost(stripe_enabled, plans,
                                                                       shopper, member):
    member = subscribe(stripe_enabled, shopper, member)
    assert shopper.post("stripe/cancel_at_period_end").status_code == 200
    stripe_enabled.drain()
    # The deleted event never arrives: the member still holds the subscription here.
    stripe_enabled.client.v1.webhook_endpoints.update(stripe_enabled.webhook_endpoint_id,
                                                      params={"disabled": True})
    stripe_enabled.advance(32 * DAY)
    assert Member.objects.get(pk=member.pk).stripe_subscription_id

    response = shopper.post("stripe/resume")

    assert response.status_code == 409
    assert error_of(response)["message"] == (
        "Your subscription has already ended; it cannot be resumed.")
    assert stripe_enabled.client.v1.subscriptions.retrieve(
        member.stripe_subscription_id).status == "canceled"


# --- Stripe refusing what the site chose (the member cannot fix it by asking again) ----

def _customer_deleted_in_stripe(stripe_enabled, shopper, member) -> Member:
    """An administrator deleted the member's customer in Stripe's dashboard: Stripe ends
    the subscription, and its webhook unlinks it here; the customer ID stays."""
    member = subscribe(stripe_enabled, shopper, member)
    stripe_enabled.client.v1.customers.delete(member.stripe_customer_id)
    stripe_enabled.drain()
    assert wait_for(lambda: not Member.objects.get(pk=member.pk).stripe_subscription_id)
    return Member.objects.get(pk=member.pk)


def test_a_customer_deleted_in_stripe_does_not_lock_the_member_out_of_checkout(
        stripe_enabled, plans, shopper, member):
    gone = _customer_deleted_in_stripe(stripe_enabled, shopper, member).stripe_customer_id

    response = shopper.post("stripe/checkout")

    assert response.status_code == 200, response.text
    session = stripe_enabled.client.v1.checkout.sessions.retrieve(
        response.json()["url"].rsplit("/", 1)[-1])
    assert (session.customer, session.customer_email) == (None, member.email)
    assert Member.objects.get(pk=member.pk).stripe_customer_id is None  # forgotten
    assert gone
    paid_again = subscribe(stripe_enabled, shopper, member)  # a new customer, linked
    assert paid_again.stripe_customer_id not in (None, gone)


def test_the_portal_of_a_customer_deleted_in_stripe_is_no_billing_account(
        stripe_enabled, plans, shopper, member):
    _customer_deleted_in_stripe(stripe_enabled, shopper, member)

    response = shopper.post("stripe/portal")

    assert response.status_code == 409, response.text
    assert error_of(response) == {
        "code": "conflict", "message": "You have no billing account yet: subscribe first."}
    assert Member.objects.get(pk=member.pk).stripe_customer_id is None


@pytest.mark.parametrize("operation", ["change_plan", "cancel_at_period_end", "resume"])
def test_a_subscription_ended_in_stripe_while_asked_is_a_409(stripe_enabled, plans, shopper,
                                                            member, emulator, operation):
    """Read live, then canceled in Stripe's dashboard before the update reaches it."""
    from .emulator_requests import watch

    silver_price, _ = plans["silver"]
    member = subscribe(stripe_enabled, shopper, member)
    if operation == "resume":
        assert shopper.post("stripe/cancel_at_period_end").status_code == 200
        # Its webhook first: applying it may read the subscription from Stripe (a
        # same-second tie), and the hook below is for the operation's own read.
        stripe_enabled.drain()
    subscription_id = member.stripe_subscription_id
    watch(emulator).on("GET", f"/v1/subscriptions/{subscription_id}", "after",
                       lambda: stripe_enabled.client.v1.subscriptions.cancel(subscription_id))

    response = shopper.post(f"stripe/{operation}",
                            {"price_id": silver_price} if operation == "change_plan" else {})

    assert response.status_code == 409, response.text
    assert error_of(response) == {"code": "conflict", "message": "Your subscription has ended."}
    assert SubscriptionChange.objects.filter(status="failed").count() == 1


def test_a_price_archived_in_stripe_is_a_422_naming_no_stripe_parameter(
        stripe_enabled, plans, shopper, member):
    silver_price, _ = plans["silver"]
    subscribe(stripe_enabled, shopper, member)
    stripe_enabled.client.v1.prices.update(silver_price, params={"active": False})

    change = shopper.post("stripe/change_plan", {"price_id": silver_price})

    assert change.status_code == 422, change.text
    assert error_of(change)["code"] == "unprocessable_entity"
    assert "field" not in error_of(change)  # Stripe's "items[0][price]" is not the caller's
    assert SubscriptionChange.objects.get(params__items__0__price=silver_price).status == (
        "failed")


def test_invoices_of_a_customer_this_stripe_account_never_had_are_none_and_it_is_forgotten(
        stripe_enabled, plans, shopper, member):
    """The keys were switched to another account, or the customer was removed for good:
    Stripe answers "No such customer" (resource_missing); as portal and checkout do, the
    member's customer is forgotten, and the list is empty rather than a 422 for ever."""
    Member.objects.filter(pk=member.pk).update(stripe_customer_id="cus_neverhere")

    response = shopper.get("stripe/invoices")

    assert response.status_code == 200, response.text
    assert response.json()["list"] == []
    assert Member.objects.get(pk=member.pk).stripe_customer_id is None
    assert shopper.get("stripe/invoices").json()["list"] == []  # no Stripe call needed now


# --- A cancellation Stripe holds as a date (``cancel_at``) -----------------------------
# As Stripe's Dashboard's "cancel on a custom date" sets it: the member and the
# administrator see it and can undo it, and asking to cancel at the period end never
# moves it later.


def _period_end(stripe_enabled, subscription_id: str) -> int:
    sub = stripe_enabled.client.v1.subscriptions.retrieve(subscription_id)
    return sub["items"]["data"][0]["current_period_end"]


def _ends_on(stripe_enabled, shopper, member, days_before_period_end: int):
    """The member subscribes; then Stripe is told to end it on a date (as the Dashboard
    does), and its updated event reaches the app."""
    member = subscribe(stripe_enabled, shopper, member)
    sub_id = member.stripe_subscription_id
    when = _period_end(stripe_enabled, sub_id) - days_before_period_end * DAY
    updated = stripe_enabled.client.v1.subscriptions.update(sub_id, params={"cancel_at": when})
    assert (updated["cancel_at"], updated["cancel_at_period_end"]) == (when, False)
    stripe_enabled.drain()
    assert wait_for(lambda: SubscriptionState.objects.get(subscription_id=sub_id).cancel_at)
    return member, when


def test_the_subscription_shows_the_date(stripe_enabled, plans, shopper, member):
    member, when = _ends_on(stripe_enabled, shopper, member, 10)

    view = shopper.get("stripe/subscription").json()["subscription"]

    assert (view["cancel_at"], view["cancel_at_period_end"]) == (when, False)


def test_resume_undoes_a_cancellation_on_a_date(stripe_enabled, plans, shopper, member):
    member, _ = _ends_on(stripe_enabled, shopper, member, 10)

    response = shopper.post("stripe/resume")

    assert response.status_code == 200, response.text
    sub = stripe_enabled.client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert (sub["cancel_at"], sub["cancel_at_period_end"]) == (None, False)
    change = SubscriptionChange.objects.get()
    assert (change.action, change.params, change.status) == ("resume", {"cancel_at": ""},
                                                             "done")


def test_cancel_at_period_end_keeps_an_earlier_date(stripe_enabled, plans, shopper, member):
    """Already ending before the period end: the same answer, no call; the member is not
    given the rest of the period behind the administrator's back."""
    member, when = _ends_on(stripe_enabled, shopper, member, 10)

    response = shopper.post("stripe/cancel_at_period_end")

    assert response.status_code == 200, response.text
    assert response.json()["cancel_at"] == when
    sub = stripe_enabled.client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert sub["cancel_at"] == when
    assert not SubscriptionChange.objects.exists()


def test_cancel_at_period_end_brings_a_later_date_back_to_the_period_end(
        stripe_enabled, plans, shopper, member):
    """A date after the period end would bill one more renewal the member asked not to pay."""
    member, _ = _ends_on(stripe_enabled, shopper, member, -40)
    period_end = _period_end(stripe_enabled, member.stripe_subscription_id)

    response = shopper.post("stripe/cancel_at_period_end")

    assert response.status_code == 200, response.text
    assert response.json()["cancel_at"] == period_end
    sub = stripe_enabled.client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert (sub["cancel_at"], sub["cancel_at_period_end"]) == (period_end, True)


def test_the_administrators_panel_offers_resume_and_it_works(stripe_enabled, plans, shopper,
                                                             member, admin_user, admin_client):
    member, _ = _ends_on(stripe_enabled, shopper, member, 10)
    page = admin_client.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert f"/admin/members/member/{member.pk}/billing/resume/" in page
    assert "/billing/cancel_at_period_end/" not in page

    succeeded, message = run_action("resume", member, admin_user)

    assert succeeded, message
    sub = stripe_enabled.client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert sub["cancel_at"] is None


def test_a_past_due_subscription_ends_on_its_date(stripe_enabled, plans, shopper, member):
    """The renewal failed (past_due), the member cancels at the period end: Stripe ends it
    then, whatever its status, and the member leaves the paid groups."""
    member = subscribe(stripe_enabled, shopper, member, card=RENEWAL_FAILS_CARD)
    stripe_enabled.advance(32 * DAY)
    client = stripe_enabled.client
    assert client.v1.subscriptions.retrieve(member.stripe_subscription_id)["status"] == "past_due"
    response = shopper.post("stripe/cancel_at_period_end")
    assert response.status_code == 200, response.text
    cancel_at = response.json()["cancel_at"]
    now = stripe_enabled.post("/_emulator/advance", seconds=0).json()["now"]

    stripe_enabled.advance(cancel_at - now + DAY)

    sub = client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert (sub["status"], sub["ended_at"]) == ("canceled", cancel_at)
    assert wait_for(lambda: groups_of(member) == [])
