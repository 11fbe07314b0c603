"""Start a Stripe Checkout for a subscription: record the intent, ask Stripe once, apply.

The steps, the race they close and the time bound: docs/billing.md, "Checkout".
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Subquery
from django.utils import timezone

from kuroco_billing.rows import columns, db_values, from_row
from members.models import Member, MemberGroup

from .. import gateway
from ..models import CheckoutIntent, StripeSettings
from ..prices import linked_prices, unlinked_among
from . import member_subscription
from .grants import GRANTING_STATUSES

logger = logging.getLogger("payments.checkout")

ALREADY_SUBSCRIBED = "You already have a subscription. Cancel it before starting a new one."
# A session of theirs turned out paid, its subscription's webhook still on its way.
JUST_PAID = ("You have just paid for a subscription; it is being set up. Reload in a "
             "moment.")
MEMBER_GONE = member_subscription.MEMBER_GONE
OTHERS_UNKNOWN = ("Stripe could not be reached to close your other checkout, which may "
                  "still be payable. Try again in a moment.")
# Metadata key on our Checkout Sessions: the intent's key (no secret in it).
INTENT_METADATA = "kuroco_checkout_intent"
# A known open session is handed out again only while it has this long to live.
REUSE_MARGIN_SECONDS = 3600

OPEN, PENDING, CLOSED = (CheckoutIntent.Status.OPEN, CheckoutIntent.Status.PENDING,
                         CheckoutIntent.Status.CLOSED)


class CheckoutRefused(Exception):
    """The checkout cannot start; ``code`` is the API error code."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _digest(value: object) -> str:
    blob = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:40]


def _account(config: StripeSettings) -> list[str]:
    """What tells one Stripe account and mode from another, without asking Stripe: the
    publishable key (else a digest of the secret key), and where the API is."""
    identity = config.publishable_key or hashlib.sha256(config.secret_key.encode()).hexdigest()
    return [identity, settings.STRIPE_API_BASE]


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


def _refuse_unlinked(unlinked: list[str]) -> None:
    """Every price must give a group: a subscription that grants nothing is a sale of nothing.

    That each price is active and recurring is checked when an administrator
    links it to a group, and by the setup check; not on every checkout.
    """
    if unlinked:
        raise CheckoutRefused(
            "unprocessable_entity",
            f"The configured price {', '.join(unlinked)} is not linked to any member group, "
            "so buying it would grant nothing.",
            "products_list",
        )


def session_params(member: Member, plan: dict) -> dict:
    """The Checkout Session to create for ``member``.

    A member with a stored customer pays as that customer (one customer per
    member); a first checkout lets Checkout create the customer, which the
    webhook links through ``metadata.member_id`` / ``client_reference_id``.
    """
    subscription_data: dict = {"metadata": {"member_id": str(member.pk)}}
    if plan["trial_period_days"]:
        subscription_data["trial_period_days"] = plan["trial_period_days"]
    params = {
        "mode": "subscription",
        "line_items": plan["items"],
        "success_url": plan["success_url"],
        "cancel_url": plan["cancel_url"],
        "client_reference_id": str(member.pk),
        "subscription_data": subscription_data,
    }
    if member.stripe_customer_id:
        params["customer"] = member.stripe_customer_id
    else:
        params["customer_email"] = member.email
    return params


def start_checkout(member: Member, parameters: dict) -> str:
    """The URL of the member's Checkout Session: one Stripe call (a read when reused)."""
    try:
        intent, config = _record_intent(member.pk, parameters)
    except CheckoutRefused as refused:
        if refused.code == "conflict":  # subscribed: no session of theirs may stay payable
            close_open_sessions(member.pk)
        raise
    except Member.DoesNotExist:  # deleted since the request was signed in
        raise CheckoutRefused("unauthorized", MEMBER_GONE) from None
    if intent.status == OPEN:
        state = state_in_stripe(intent)
        if state == "open":
            # Re-checked under the lock as a new session is: the member may have
            # subscribed, or gone, while Stripe was asked.
            return _apply_session(intent, {"id": intent.session_id, "url": intent.url,
                                           "expires_at": intent.expires_at})
        if state == "paid":
            raise CheckoutRefused("conflict", JUST_PAID)
        if state is None:
            raise gateway.StripeUnavailable("Stripe could not be reached. Try again later.")
        # Over (expired in Stripe's dashboard, or by a checkout that lost the answer):
        # never handed out again; a new session instead.
        CheckoutIntent.objects.filter(pk=intent.pk, status=OPEN).update(status=CLOSED)
        return start_checkout(member, parameters)
    try:
        session = _create_session(intent, config)
    except gateway.StripeInvalidRequest as exc:
        customer_id = intent.params.get("customer")
        if not (customer_id and member_subscription.customer_gone(exc)):
            raise
        # Deleted in Stripe's dashboard: forgotten here, and the checkout asked again
        # with the member's email, so Checkout makes a new customer (once: the new
        # intent names none).
        member_subscription.forget_customer(member.pk, customer_id)
        return start_checkout(member, parameters)
    return _apply_session(intent, session)


def _record_intent(
    member_id: int, parameters: dict,
) -> tuple[CheckoutIntent, StripeSettings]:
    """Step 1: the intent, committed (an open one reused, a pending one retried), and
    the Stripe settings to ask with."""
    with transaction.atomic():
        member, version, linked = _lock_member(member_id, _named_prices(parameters))
        # The stored settings first: payments off is a 503 before any other refusal,
        # whatever this process had cached (the early check trusts its cache).
        config = gateway.ensure_configured(StripeSettings.load_if_changed(version))
        plan = _endpoint_plan(parameters)
        _refuse_unlinked(unlinked_among([item["price"] for item in plan["items"]], linked))
        if member.stripe_subscription_id:
            raise CheckoutRefused("conflict", ALREADY_SUBSCRIBED)
        params = session_params(member, plan)
        # Which Stripe account and mode the session is made in: after the keys change,
        # an open session of the old ones is not handed out again.
        digest = _digest([params, _account(config)])
        # A new intent's key, used only if no intent of this checkout can go on.
        key = f"kb-checkout-{uuid.uuid4().hex}"
        # On the subscription too: its webhook can tell which checkout was paid.
        params["metadata"] = {INTENT_METADATA: key}
        params["subscription_data"]["metadata"][INTENT_METADATA] = key
        fresh_after = int(time.time()) + REUSE_MARGIN_SECONDS
        mine, added = _read_or_add_intent(member, digest, key, params, fresh_after)
        reusable = next((i for i in mine if _reusable(i, fresh_after)), None)
        if reusable is not None:
            return reusable, config
        pending = next((i for i in mine if i.status == PENDING), None)
        if pending is not None:
            # A retry of the same checkout: the same key, so Stripe replays the
            # session if it made one (unless a saved 5xx moved the key on).
            return pending, config
        return added, config


def state_in_stripe(intent: CheckoutIntent) -> str | None:
    """What a session recorded open here is in Stripe (read, outside transactions):

    ``open``; ``paid`` (complete, and its subscription still live: the webhook that
    grants it, and closes the intent, has yet to come); ``over`` (expired, unknown
    to this account, or its subscription already ended); None (Stripe not reached).
    """
    try:
        session = gateway.retrieve_checkout_session(intent.session_id,
                                                    member_id=intent.member_id)
        if session["status"] != "complete" or not session.get("subscription"):
            return "open" if session["status"] == "open" else "over"
        subscription = gateway.retrieve_subscription(session["subscription"],
                                                     member_id=intent.member_id)
    except gateway.StripeInvalidRequest:
        return "over"
    except gateway.StripeError:
        logger.warning("checkout_session_not_read member=%s session=%s",
                       intent.member_id, intent.session_id)
        return None
    return "paid" if subscription.get("status") in GRANTING_STATUSES else "over"


def _reusable(intent: CheckoutIntent, fresh_after: int) -> bool:
    """An open session that lives long enough to be handed out again."""
    return intent.status == OPEN and (intent.expires_at or 0) > fresh_after


@cache
def _read_or_add_sql() -> str:
    """The intents of one checkout, locked, and a new one unless one of them can go on."""
    fields = [f for f in CheckoutIntent._meta.concrete_fields if not f.primary_key]
    return """
WITH mine AS (
    SELECT * FROM "{table}" WHERE "member_id" = %s AND "config_digest" = %s
        AND "status" IN (%s, %s) FOR UPDATE
), added AS (
    INSERT INTO "{table}" ({insert_columns}) SELECT {values}
    WHERE NOT EXISTS (SELECT 1 FROM mine WHERE "status" = %s
                      OR ("status" = %s AND COALESCE("expires_at", 0) > %s))
    RETURNING *
)
SELECT {columns} FROM mine i UNION ALL SELECT {columns} FROM added i
""".format(table=CheckoutIntent._meta.db_table,  # noqa: S608 (names from the model)
           insert_columns=", ".join(f'"{f.column}"' for f in fields),
           values=", ".join(["%s"] * len(fields)), columns=columns(CheckoutIntent, "i"))


def _read_or_add_intent(member: Member, digest: str, key: str, params: dict,
                        fresh_after: int) -> tuple[list[CheckoutIntent], CheckoutIntent | None]:
    """Under the member's lock: the open and pending intents of this checkout, and the
    new intent (``key``) added when none of them can go on (None otherwise).

    After the lock, in a statement of its own: the intents are read as they are
    now, not as the lock statement's snapshot saw them. One statement on
    PostgreSQL; the ORM elsewhere.
    """
    intent = CheckoutIntent(member=member, key=key, config_digest=digest, params=params)
    if connection.vendor != "postgresql":
        mine = list(member.checkout_intents.select_for_update().filter(
            config_digest=digest, status__in=[OPEN, PENDING]))
        if any(i.status == PENDING or _reusable(i, fresh_after) for i in mine):
            return mine, None
        intent.save(force_insert=True)
        return mine, intent
    fields = [f for f in CheckoutIntent._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(intent, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(_read_or_add_sql(), [member.pk, digest, OPEN, PENDING, *values,
                                            PENDING, OPEN, fresh_after])
        rows = cursor.fetchall()
    found = sorted((from_row(CheckoutIntent, row) for row in rows), key=lambda i: -i.pk)
    added = next((i for i in found if i.key == key), None)
    return [i for i in found if i is not added], added


_LOCK_MEMBER_SQL = """
SELECT m."id", m."email", m."stripe_customer_id", m."stripe_subscription_id",
    (SELECT "updated_at" FROM "{settings}" WHERE "id" = 1),
    ARRAY(SELECT DISTINCT "stripe_price_id" FROM "{groups}" WHERE "stripe_price_id" = ANY(%s)),
    set_config('synchronous_commit', 'off', true)
FROM "{members}" m WHERE m."id" = %s FOR UPDATE OF m
""".format(settings=StripeSettings._meta.db_table,  # noqa: S608, UP032 (names from the models)
           groups=MemberGroup._meta.db_table, members=Member._meta.db_table)


_LOCKED_FIELDS = ("id", "email", "stripe_customer_id", "stripe_subscription_id")


def _named_prices(parameters: dict) -> list[str]:
    """The endpoint's price IDs, read leniently (``_endpoint_plan`` refuses a bad list)."""
    products = parameters.get("products_list") or []
    products = [products] if isinstance(products, str) else products
    return sorted({p for p in products if isinstance(p, str) and p}) if isinstance(
        products, list) else []


def _lock_member(member_id: int, prices: list[str]) -> tuple[Member, object, set[str]]:
    """Step 1's lock: the member, the settings' version and which prices a group carries.

    One statement on PostgreSQL, which also lets this transaction's COMMIT return
    before its WAL is flushed. That is safe for step 1 only: the intent is
    visible to every other transaction at once, and step 3's COMMIT (flushed)
    makes it durable before any URL is handed out. A crash in between loses an
    intent whose session nobody was given: it cannot be paid, and the retry
    makes a new one. Saves one disk flush per checkout.
    """
    if connection.vendor != "postgresql":
        member = Member.objects.select_for_update(of=("self",)).annotate(
            stripe_settings_version=Subquery(
                StripeSettings.objects.filter(pk=1).values("updated_at")),
        ).get(pk=member_id)
        return member, member.stripe_settings_version, linked_prices(prices)
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_MEMBER_SQL, [prices, member_id])
        row = cursor.fetchone()
    if row is None:
        raise Member.DoesNotExist
    member = Member.from_db(connection.alias, _LOCKED_FIELDS, row[:4])
    [version] = db_values(StripeSettings, [row[4]],
                          [StripeSettings._meta.get_field("updated_at")])
    return member, version, set(row[5])


def _create_session(intent: CheckoutIntent, config: StripeSettings) -> dict:
    """Step 2: the one Stripe call, outside any transaction."""
    try:
        return gateway.create_checkout_session(
            intent.params, idempotency_key=intent.idempotency_key, member_id=intent.member_id,
            config=config)
    except gateway.StripeBusy:  # the same checkout, started in parallel: still running
        raise CheckoutRefused("conflict", "Your checkout is being prepared; try again "
                              "in a moment.") from None
    except gateway.StripeUnavailable as exc:
        if exc.saved_by_stripe:
            # Stripe replays a saved 5xx for 24 hours to this key: the retry needs the next.
            CheckoutIntent.objects.filter(pk=intent.pk).update(attempt=F("attempt") + 1)
        raise
    except gateway.StripeInvalidRequest:
        # Refused for what it asks: a retry starts a new intent (and key).
        CheckoutIntent.objects.filter(pk=intent.pk, status=PENDING).update(status=CLOSED)
        raise


def _apply_session(intent: CheckoutIntent, session: dict) -> str:
    """Step 3: re-lock the member, re-check, and record the session as the open one."""
    intent.session_id = session["id"]
    intent.url = session.get("url") or ""
    intent.expires_at = session.get("expires_at")
    try:
        subscription_id, others = _open_and_list_others(intent)
    except Member.DoesNotExist:
        # Deleted while Stripe was asked (its intents with it): nobody may pay this.
        expire_sessions([intent])
        raise CheckoutRefused("unauthorized", MEMBER_GONE) from None
    if subscription_id:
        # The subscription's webhook committed while Stripe was asked: this session
        # must not stay payable either.
        expire_sessions([*others, intent])
        raise CheckoutRefused("conflict", ALREADY_SUBSCRIBED)
    _expire_others(others, intent)  # it replaces them
    return intent.url


def _expire_others(others: list[CheckoutIntent], mine: CheckoutIntent) -> None:
    """Expire the member's other sessions before ``mine`` is handed out. One of them
    paid (its webhook not here yet), or one Stripe could not be asked about: ``mine``
    is expired too and the checkout refused, so that no member pays twice."""
    outcome = expire_sessions(others)
    if not (outcome.paid or outcome.unknown):
        return
    expire_sessions([mine])
    if outcome.paid:
        raise CheckoutRefused("conflict", JUST_PAID)
    raise gateway.StripeUnavailable(OTHERS_UNKNOWN)


_OPEN_SQL = """
WITH locked AS (
    SELECT "id", "stripe_subscription_id" FROM "{members}" WHERE "id" = %s FOR UPDATE
), opened AS (
    UPDATE "{intents}" SET "session_id" = %s, "url" = %s, "expires_at" = %s, "status" = %s,
        "updated_at" = %s
    WHERE "id" = %s AND EXISTS (SELECT 1 FROM locked)
), others AS (
    SELECT "id", "status" FROM "{intents}"
    WHERE "member_id" = (SELECT "id" FROM locked) AND "status" IN (%s, %s) AND "id" <> %s
    FOR UPDATE
)
SELECT locked."stripe_subscription_id", others."id" FROM locked
    LEFT JOIN others ON others."status" = %s
""".format(members=Member._meta.db_table,  # noqa: S608, UP032 (names from the models)
           intents=CheckoutIntent._meta.db_table)


def _open_and_list_others(intent: CheckoutIntent) -> tuple[str | None, list[CheckoutIntent]]:
    """Under the member's lock: the subscription they hold now, ``intent`` recorded as
    open (it is, in Stripe), and the member's other open intents.

    One statement on PostgreSQL, in its own (flushed) transaction. The member is
    locked first, as every writer does: the UPDATE waits for the lock through its
    ``EXISTS``, and the other intents are read only once it is held (their filter
    needs the locked row). A statement reads what was committed when it began,
    except the rows it locks, which it reads as they are once locked: so the other
    intents not yet closed are locked and read again, and a checkout that recorded
    its session as open while this one waited for the lock is seen open.
    """
    now = timezone.now()
    if connection.vendor != "postgresql":
        with transaction.atomic():
            subscription_id = Member.objects.select_for_update().filter(
                pk=intent.member_id).values_list("stripe_subscription_id", flat=True).get()
            CheckoutIntent.objects.filter(pk=intent.pk).update(
                session_id=intent.session_id, url=intent.url, expires_at=intent.expires_at,
                status=OPEN, updated_at=now)
            others = list(CheckoutIntent.objects.filter(member_id=intent.member_id,
                                                        status=OPEN).exclude(pk=intent.pk))
        return subscription_id, others
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_SQL, [
            intent.member_id, intent.session_id, intent.url, intent.expires_at, OPEN, now,
            intent.pk, PENDING, OPEN, intent.pk, OPEN,
        ])
        rows = cursor.fetchall()
    if not rows:  # no member row to lock
        raise Member.DoesNotExist
    subscription_id = rows[0][0]
    ids = [row[1] for row in rows if row[1] is not None]
    return subscription_id, (list(CheckoutIntent.objects.filter(pk__in=ids)) if ids else [])


@dataclass
class Expiry:
    """What expiring sessions found: ``paid`` ones (complete), and ``unknown`` ones
    (Stripe could not be asked: perhaps still payable)."""

    paid: list[CheckoutIntent] = field(default_factory=list)
    unknown: list[CheckoutIntent] = field(default_factory=list)


def expire_sessions(intents: list[CheckoutIntent]) -> Expiry:
    """Expire these known open sessions in Stripe, outside any transaction.

    One Stripe refuses to expire is already paid or expired: a read tells which.
    A paid one stays open here until its webhook grants the subscription (and
    closes it), so that no checkout meanwhile makes a second payable session. One
    Stripe could not be asked about stays open here too, to be expired by the next
    checkout or by ``close_open_sessions``.
    """
    outcome = Expiry()
    for intent in intents:
        try:
            gateway.expire_checkout_session(intent.session_id, member_id=intent.member_id)
        except gateway.StripeInvalidRequest:
            state = state_in_stripe(intent)
            if state != "over":
                (outcome.paid if state == "paid" else outcome.unknown).append(intent)
                continue
        except gateway.StripeError:
            logger.warning("checkout_session_not_expired member=%s session=%s",
                           intent.member_id, intent.session_id)
            outcome.unknown.append(intent)
            continue
        CheckoutIntent.objects.filter(pk=intent.pk, status=OPEN).update(status=CLOSED)
    return outcome




def close_open_sessions(member_id: int) -> None:
    """Expire every session known open for the member (Stripe calls: outside transactions)."""
    expire_sessions(list(CheckoutIntent.objects.filter(member_id=member_id, status=OPEN)))


def sessions_left_open(member_id: int, subscription: dict) -> list[CheckoutIntent]:
    """In the webhook's transaction that granted ``subscription``: close the checkout it
    was paid through, and return the member's other sessions known open.

    The caller expires those with ``expire_sessions`` after its commit, so that
    nothing is left for the member to pay twice; a checkout racing with this is
    refused at its re-check. One statement on PostgreSQL (the webhook's budget).
    """
    # No key (a subscription not made by our checkout): the update below matches no
    # intent, since every intent has one.
    key = (subscription.get("metadata") or {}).get(INTENT_METADATA) or ""
    if connection.vendor != "postgresql":
        others = CheckoutIntent.objects.filter(member_id=member_id, status=OPEN).exclude(key=key)
        if key:
            CheckoutIntent.objects.filter(member_id=member_id, key=key).update(status=CLOSED)
        return list(others)
    table = CheckoutIntent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH paid AS (UPDATE {table} SET status = %s, updated_at = %s
                              WHERE member_id = %s AND "key" = %s RETURNING id)
                SELECT id FROM {table} WHERE member_id = %s AND status = %s AND "key" <> %s
            """,  # noqa: S608 (the table name comes from the model)
            [CLOSED, timezone.now(), member_id, key, member_id, OPEN, key],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return list(CheckoutIntent.objects.filter(pk__in=ids)) if ids else []
