"""Start a Stripe Checkout for a subscription.

What is sold and where the buyer returns come from the endpoint's parameters
only (``products_list``, ``return_url``, ``return_err_url``,
``trial_period_days``); the request body cannot change them.

Idempotency, so that double clicks, parallel requests and retries after a
fault never make two customers or two sessions:

* The customer is created with the member's row locked
  (``select_for_update``; a no-op on SQLite, whose writes are serialised
  anyway) and an idempotency key derived from the member and the details sent.
  Its ID is stored as soon as Stripe confirms it.
* The session's idempotency key is derived from the member, the customer, the
  exact session parameters and the member's "subscription epoch" (how many
  subscriptions Stripe has told us about for this customer). Until the member
  subscribes, every attempt for the same product list is the same attempt:
  Stripe replays the first session for 24 hours, the time a session stays
  open, so a retry or a second click gets the same URL and the member cannot
  pay twice. After a subscription starts (and ends), the epoch moves on and a
  new checkout gets a new session.
* One open session per member: two checkout endpoints (other prices, other
  return URLs, other APIs) would otherwise give two payable sessions, and the
  member could pay both. After creating (or replaying) the session, every
  other open session of the customer is expired in Stripe. The session carries
  its key's base in ``metadata``; expiring it moves that key to its next
  generation, so a later checkout on that endpoint gets a new, payable session
  instead of Stripe's replay of the expired one.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from django.core.cache import cache
from django.db import transaction

from members.models import Member, MemberGroup

from .. import gateway
from ..models import SubscriptionState


class CheckoutRefused(Exception):
    """The checkout cannot start; ``code`` is the API error code."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


ONE_TIME_MESSAGE = "One-time purchases are not supported: only recurring prices can be sold."


# Stripe replays a saved 5xx for 24 hours to a retry with the same key. After
# such an answer the next attempt uses the next "generation" of the key; the
# counter lives in the shared cache (the database cache: every worker sees it).
KEY_GENERATION_TTL = 25 * 3600

# Metadata key on our Checkout Sessions: the idempotency key's base (no secret in it).
CHECKOUT_KEY_METADATA = "kuroco_checkout_key"


def _idempotency_key(base: str) -> str:
    generation = cache.get(f"stripe-idem-gen:{base}", 0)
    return f"{base}-g{generation}" if generation else base


def _next_generation(base: str) -> None:
    counter = f"stripe-idem-gen:{base}"
    cache.add(counter, 0, KEY_GENERATION_TTL)
    try:
        cache.incr(counter)
    except ValueError:  # expired in between
        cache.set(counter, 1, KEY_GENERATION_TTL)


def _after_failure(base: str, exc: gateway.StripeError) -> None:
    if isinstance(exc, gateway.StripeUnavailable) and exc.saved_by_stripe:
        _next_generation(base)


def _digest(*parts: object) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:40]


def line_items(products_list: list) -> list[dict]:
    """A repeated price becomes one line with that quantity, in first-seen order."""
    counts = Counter(str(price) for price in products_list)
    return [{"price": price, "quantity": quantity} for price, quantity in counts.items()]


def _endpoint_plan(parameters: dict) -> dict:
    """The endpoint's checkout configuration, checked."""
    products = parameters.get("products_list") or []
    if isinstance(products, str):
        products = [products]
    if not isinstance(products, list) or not products or not all(
        isinstance(p, str) and p for p in products
    ):
        raise CheckoutRefused("unprocessable_entity",
                              "This checkout endpoint has no products configured.",
                              "products_list")
    success_url = parameters.get("return_url") or ""
    cancel_url = parameters.get("return_err_url") or success_url
    if not success_url:
        raise CheckoutRefused("unprocessable_entity",
                              "This checkout endpoint has no return URL configured.",
                              "return_url")
    trial = parameters.get("trial_period_days")
    if trial not in (None, "", 0):
        try:
            trial = int(trial)
        except (TypeError, ValueError):
            trial = -1
        if trial < 1 or trial > 730:
            raise CheckoutRefused("unprocessable_entity",
                                  "trial_period_days must be between 1 and 730.",
                                  "trial_period_days")
    else:
        trial = None
    return {"items": line_items(products), "success_url": success_url,
            "cancel_url": cancel_url, "trial_period_days": trial}


def _check_prices(items: list[dict], member_id: int) -> None:
    """Every price must exist, be active and be recurring."""
    for item in items:
        try:
            price = gateway.retrieve_price(item["price"], member_id=member_id)
        except gateway.StripeInvalidRequest as exc:
            if exc.is_missing:
                raise CheckoutRefused("unprocessable_entity",
                                      f"The configured price {item['price']} does not exist.",
                                      "products_list") from None
            raise
        if price.get("type") != "recurring" or not price.get("recurring"):
            raise CheckoutRefused("unprocessable_entity", ONE_TIME_MESSAGE, "products_list")
        if not price.get("active", True):
            raise CheckoutRefused("unprocessable_entity",
                                  f"The configured price {item['price']} is not active.",
                                  "products_list")


def _check_granted(items: list[dict]) -> None:
    """Every price must give a group: a subscription that grants nothing is a sale of nothing."""
    prices = [item["price"] for item in items]
    granted = set(MemberGroup.objects.filter(stripe_price_id__in=prices)
                  .values_list("stripe_price_id", flat=True))
    for price in prices:
        if price not in granted:
            raise CheckoutRefused(
                "unprocessable_entity",
                f"The configured price {price} is not linked to any member group, "
                "so buying it would grant nothing.",
                "products_list",
            )


def ensure_customer(member_id: int) -> Member:
    """The member with a Stripe customer, created once whatever the concurrency."""
    attempted: list[str] = []
    try:
        with transaction.atomic():
            member = Member.objects.select_for_update().get(pk=member_id)
            if member.stripe_subscription_id:
                raise CheckoutRefused("conflict", "You already have a subscription. "
                                      "Cancel it before starting a new one.")
            if member.stripe_customer_id:
                return member
            # One this site made before (a retry after a lost answer, a rolled-back
            # save, an expired idempotency key) is reused rather than duplicated.
            customer = gateway.find_customer(email=member.email, member_id=member.pk)
            if customer is None:
                base = f"kb-customer-{member.pk}-{_digest(member.email, member.name)}"
                attempted.append(base)
                customer = gateway.create_customer(
                    email=member.email, name=member.name, member_id=member.pk,
                    idempotency_key=_idempotency_key(base),
                )
            member.stripe_customer_id = customer["id"]
            member.save(update_fields=["stripe_customer_id"])
            return member
    except gateway.StripeError as exc:
        # After the rollback, so the key generation (in the database cache) sticks.
        for base in attempted:
            _after_failure(base, exc)
        raise


def start_checkout(member: Member, parameters: dict) -> str:
    """Create (or replay) the member's Checkout Session; returns its URL."""
    if member.stripe_subscription_id:
        raise CheckoutRefused("conflict", "You already have a subscription. "
                              "Cancel it before starting a new one.")
    plan = _endpoint_plan(parameters)
    _check_prices(plan["items"], member.pk)
    _check_granted(plan["items"])
    member = ensure_customer(member.pk)

    subscription_data: dict = {"metadata": {"member_id": str(member.pk)}}
    if plan["trial_period_days"]:
        subscription_data["trial_period_days"] = plan["trial_period_days"]
    params = {
        "mode": "subscription",
        "customer": member.stripe_customer_id,
        "line_items": plan["items"],
        "success_url": plan["success_url"],
        "cancel_url": plan["cancel_url"],
        "client_reference_id": str(member.pk),
        "subscription_data": subscription_data,
    }
    epoch = SubscriptionState.objects.filter(customer_id=member.stripe_customer_id).count()
    base = f"kb-checkout-{member.pk}-{epoch}-{_digest(params)}"
    params["metadata"] = {CHECKOUT_KEY_METADATA: base}
    expired: list[str] = []
    failed_create: gateway.StripeError | None = None
    try:
        # The member's row stays locked from creating this session until the others
        # are expired: two parallel checkouts on different endpoints cannot each
        # expire the other's session.
        with transaction.atomic():
            Member.objects.select_for_update().get(pk=member.pk)
            try:
                session = gateway.create_checkout_session(
                    params, idempotency_key=_idempotency_key(base), member_id=member.pk)
            except gateway.StripeError as exc:
                failed_create = exc
                raise
            _expire_other_sessions(member, keep=session["id"], expired=expired)
    finally:
        # After the rollback, so the key generations (in the database cache) stick.
        if failed_create is not None:
            _after_failure(base, failed_create)
        for expired_base in expired:
            _next_generation(expired_base)
    return session["url"]


def _expire_other_sessions(member: Member, *, keep: str, expired: list[str]) -> None:
    """Expire the customer's other open sessions, adding their key bases to ``expired``.

    A session paid or expired meanwhile cannot be expired any more (Stripe
    answers 400); it is skipped. Should the member pay one in that instant, the
    webhook's one-subscription rule grants only the first subscription and
    flags the second.
    """
    for other in gateway.list_open_checkout_sessions(member.stripe_customer_id,
                                                     member_id=member.pk):
        if other["id"] == keep:
            continue
        try:
            gateway.expire_checkout_session(other["id"], member_id=member.pk)
        except gateway.StripeInvalidRequest:
            continue
        base = (other.get("metadata") or {}).get(CHECKOUT_KEY_METADATA)
        if base:
            expired.append(base)
