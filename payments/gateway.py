"""Every call this site makes to Stripe goes through this module.

It keeps one ``stripe.StripeClient`` per process and key (stored settings, Django
settings), turns the SDK's errors into three typed exceptions, logs one line per
call, and returns Stripe's JSON as dicts so the rest of the code never depends on SDK objects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import requests
import stripe
from django.conf import settings
from django.db import connections
from django.views.decorators.debug import sensitive_variables

from .models import StripeSettings

logger = logging.getLogger("payments.stripe")

# Stripe messages are passed on to callers only when they cannot leak a key,
# a webhook secret or somebody's email address.
_UNSAFE_TEXT = re.compile(r"\b(?:sk|rk|pk)_\w+|\bwhsec_\w+|[^\s@]+@[^\s@]+")
GENERIC_REJECTION = "Stripe rejected the request."


class StripeError(Exception):
    """Base of the errors this module raises; the message is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StripeCallInTransaction(RuntimeError):
    """A Stripe call was made while a database transaction was open (a design error).

    Raised only where ``STRIPE_FORBID_CALLS_IN_TRANSACTION`` is on (the test
    settings), so that every test checks the rule: record the intent, commit,
    call Stripe, then re-lock and apply.
    """


class StripeNotConfigured(StripeError):
    """The integration is disabled, or no secret key is stored."""


class StripeUnavailable(StripeError):
    """Stripe could not be reached, timed out, failed (5xx/429) or refused our key.

    ``saved_by_stripe`` is true for a 5xx answer: Stripe stores that result under
    the idempotency key and replays it for 24 hours, so a retry needs a new key.
    After a network error or timeout it is false: the same key must be reused, as
    Stripe may have done the work and will replay its real result.
    """

    def __init__(self, message: str, *, saved_by_stripe: bool = False) -> None:
        super().__init__(message)
        self.saved_by_stripe = saved_by_stripe


class StripeBusy(StripeUnavailable):
    """Stripe is still running another request with the same idempotency key (409
    ``idempotency_key_in_use``): its outcome is not known yet; retry with the same key."""


class StripeInvalidRequest(StripeError):
    """Stripe rejected a parameter (4xx). ``message`` is safe to show to the caller."""

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.param = param
        self.code = code
        self.http_status = http_status

    @property
    def is_missing(self) -> bool:
        return self.code == "resource_missing" or self.http_status == 404


def safe_message(raw: str | None) -> str:
    """Stripe's own message when harmless, generic text otherwise."""
    if not raw or _UNSAFE_TEXT.search(raw):
        return GENERIC_REJECTION
    return raw


def _config(config: StripeSettings | None) -> StripeSettings:
    """The settings to use. Without an explicit one, the integration must be enabled."""
    if config is None:
        return ensure_configured(StripeSettings.load())
    if not config.secret_key:
        raise StripeNotConfigured("No Stripe secret key is configured.")
    return config


def ensure_configured(stored: StripeSettings | None = None) -> StripeSettings:
    """The stored settings, or StripeNotConfigured when disabled or keyless.

    ``stored``: the stored settings when the caller has just read them.
    """
    config = stored if stored is not None else StripeSettings.load()
    if not config.enabled:
        raise StripeNotConfigured("The Stripe integration is disabled.")
    return _config(config)


def refuse_early_if_off() -> None:
    """StripeNotConfigured when the integration is off, judged first by this process's cache.

    For a step that checks the stored version again under its lock (checkout's
    step 1 does): a cached "on" costs no query; an "off" is read again before
    refusing, so an old cache never refuses a request.
    """
    cached = StripeSettings.cached()
    if cached is None or not (cached.enabled and cached.secret_key):
        ensure_configured()


STRIPE_API = "https://api.stripe.com"  # where the SDK goes when STRIPE_API_BASE is empty

# Clients by (process, key digest, API base, timeout, retries). A client keeps its
# HTTP session (one per thread), so calls reuse a kept-alive connection rather than
# paying a TCP and TLS handshake each. The stored key comes from the settings'
# version-checked cache, so a key saved by any process is used from the next call.
_clients: dict[tuple, stripe.StripeClient] = {}
_clients_lock = threading.Lock()
_MAX_CLIENTS = 8  # keys in use at once: the stored one, a candidate being checked


@sensitive_variables()
def client(config: StripeSettings | None = None) -> stripe.StripeClient:
    """The client for the stored secret key, pointed at STRIPE_API_BASE when set."""
    config = _config(config)
    api_base = (getattr(settings, "STRIPE_API_BASE", "") or "").rstrip("/")
    # The pid: a client made before a fork must not share its sockets with the child.
    key = (os.getpid(), hashlib.sha256(config.secret_key.encode()).digest(), api_base,
           settings.STRIPE_TIMEOUT_SECONDS, settings.STRIPE_MAX_NETWORK_RETRIES)
    found = _clients.get(key)
    if found is None:
        found = _new_client(config.secret_key, api_base)
        with _clients_lock:
            if len(_clients) >= _MAX_CLIENTS:
                _clients.clear()
            _clients[key] = found
    return found


@sensitive_variables()
def _new_client(secret_key: str, api_base: str) -> stripe.StripeClient:
    transport = stripe.RequestsClient(
        timeout=settings.STRIPE_TIMEOUT_SECONDS,
        proxy=_environment_proxies(api_base or STRIPE_API),
        # The SDK's hook for the ``requests`` module it uses (a private parameter, there
        # since its first versions): the only way to keep its one session per thread
        # and still turn ``trust_env`` off. A ``session=`` would be shared by threads.
        _lib=_RequestsWithoutEnvironment,
    )
    options: dict[str, Any] = {
        "http_client": transport,
        "max_network_retries": settings.STRIPE_MAX_NETWORK_RETRIES,
    }
    if api_base:
        options["base_addresses"] = {"api": api_base, "connect": api_base, "files": api_base}
    return stripe.StripeClient(secret_key, **options)


def _environment_proxies(api_base: str) -> dict[str, str] | None:
    """The proxies the environment names for ``api_base`` (``HTTPS_PROXY``, ``NO_PROXY``…)."""
    proxies = requests.utils.get_environ_proxies(api_base)
    return {scheme: url for scheme, url in proxies.items() if scheme != "no"} or None


class _SessionWithoutEnvironment(requests.Session):
    """A session that leaves the environment alone on each call.

    ``requests`` otherwise reads every proxy variable and ``~/.netrc`` again on
    every call (≈ 0.3 ms each here); the client gets its proxies once, when made.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False


class _RequestsWithoutEnvironment:
    """What ``stripe.RequestsClient`` takes from ``requests`` (its ``_lib``): the
    exceptions, and the Session each thread makes for itself."""

    exceptions = requests.exceptions
    Session = _SessionWithoutEnvironment


def _translate(exc: stripe.StripeError) -> StripeError:
    if isinstance(exc, stripe.InvalidRequestError | stripe.CardError | stripe.IdempotencyError):
        status = exc.http_status or 400
        if status == 429 or status >= 500:
            return StripeUnavailable("Stripe is not available right now. Try again later.",
                                     saved_by_stripe=status >= 500)
        return StripeInvalidRequest(
            safe_message(exc.user_message),
            param=getattr(exc, "param", None),
            code=exc.code,
            http_status=status,
        )
    if isinstance(exc, stripe.APIError) and exc.http_status == 409:
        # The SDK raises every 409 as an APIError; Stripe's is a request with the same
        # idempotency key still in flight (a double click retrying one intent).
        return StripeBusy("Stripe is still working on the same request. Try again in a moment.")
    if isinstance(exc, stripe.APIError) and (exc.http_status or 0) >= 500:
        return StripeUnavailable("Stripe is not available right now. Try again later.",
                                 saved_by_stripe=True)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        # A bad or restricted key is the operator's problem, not the caller's.
        return StripeUnavailable("Stripe refused this site's API key.")
    if isinstance(exc, stripe.APIConnectionError):
        return StripeUnavailable("Stripe could not be reached (network error or timeout).")
    return StripeUnavailable("Stripe is not available right now. Try again later.")


def _open_transaction() -> str | None:
    """The alias of a database with a transaction of ours open, if any.

    The atomic blocks a test case wraps around each test are not ours: Django
    marks them ``_from_testcase``.
    """
    for conn in connections.all(initialized_only=True):
        if any(not block._from_testcase for block in conn.atomic_blocks):
            return conn.alias
    return None


def _refuse_inside_transaction(method: str, resource: str) -> None:
    if not getattr(settings, "STRIPE_FORBID_CALLS_IN_TRANSACTION", False):
        return
    alias = _open_transaction()
    if alias is not None:
        raise StripeCallInTransaction(
            f"Stripe call {method} {resource} inside a transaction on database {alias!r}."
        )


@sensitive_variables()
def _call(
    method: str,
    resource: str,
    params: dict | None = None,
    *,
    object_id: str | None = None,  # the ``{id}`` in ``resource``
    idempotency_key: str | None = None,
    config: StripeSettings | None = None,
    member_id: int | None = None,
) -> dict:
    """Run one SDK call, logging it and translating its errors; Stripe's JSON answer.

    Through ``StripeClient.raw_request``: the same request, headers, retries and
    errors as the SDK's typed methods, without turning the answer into SDK
    objects first (≈ 1 ms for a Checkout Session here) only to turn it back.
    ``member_id`` (when the call is made for a member) goes into the log line, so
    an operator can follow one member's calls.
    """
    _refuse_inside_transaction(method, resource)
    api = client(config)
    # The SDK's own escaping of IDs (sanitize_id): an ID cannot reach another path.
    path = resource if object_id is None else resource.replace("{id}", quote_plus(object_id))
    # raw_request takes the request's options by name beside its parameters; no
    # parameter of ours is called idempotency_key, api_key, stripe_version or headers.
    options = {"idempotency_key": idempotency_key} if idempotency_key else {}
    started = time.monotonic()
    outcome, status, request_id = "ok", None, None
    try:
        response = api.raw_request(method.lower(), path, **(params or {}), **options)
        status, request_id = response.code, response.request_id
        return response.data
    except stripe.StripeError as exc:
        outcome, status, request_id = type(exc).__name__, exc.http_status, exc.request_id
        raise _translate(exc) from None
    except Exception as exc:  # a bug in the SDK or the transport: still not the caller's
        outcome = type(exc).__name__
        raise StripeUnavailable("Stripe could not be reached.") from exc
    finally:
        logger.info(
            "stripe_call method=%s resource=%s outcome=%s status=%s duration_ms=%.1f "
            "request_id=%s member=%s",
            method, resource, outcome, status,
            (time.monotonic() - started) * 1000, request_id, member_id or "-",
        )


def _derived_key(kind: str, params: dict) -> str:
    """An idempotency key for a create whose parameters say what it is.

    Stripe keeps a key for 24 hours: within them the same create gets the same
    object back. The hour is part of the key, so a deliberate re-run later makes
    a new one.
    """
    blob = json.dumps([kind, params, int(time.time()) // 3600], sort_keys=True, default=str)
    return f"kb-{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:40]}"


# --- Account and configuration -------------------------------------------------

def retrieve_account(*, config: StripeSettings | None = None) -> dict:
    return _call("GET", "/v1/account", config=config)


def list_webhook_endpoints(*, config: StripeSettings | None = None) -> list[dict]:
    return _call("GET", "/v1/webhook_endpoints", {"limit": 100}, config=config)["data"]


def retrieve_price(price_id: str, *, config: StripeSettings | None = None,
                   member_id: int | None = None, with_product: bool = False) -> dict:
    """A price; ``with_product`` expands ``product`` into the product (for its name)."""
    params = {"expand": ["product"]} if with_product else None
    return _call("GET", "/v1/prices/{id}", params, object_id=price_id, config=config,
                 member_id=member_id)


# --- Customers and Checkout ----------------------------------------------------

# What the app keeps of a new Checkout Session (some sixty fields, nested).
CHECKOUT_SESSION_FIELDS = ("id", "url", "expires_at", "status", "subscription")


def create_checkout_session(
    params: dict, *, idempotency_key: str, config: StripeSettings | None = None,
    member_id: int | None = None,
) -> dict:
    """The new session's ``CHECKOUT_SESSION_FIELDS``."""
    session = _call("POST", "/v1/checkout/sessions", params, idempotency_key=idempotency_key,
                    config=config, member_id=member_id)
    return {name: session.get(name) for name in CHECKOUT_SESSION_FIELDS}


def retrieve_checkout_session(
    session_id: str, *, config: StripeSettings | None = None, member_id: int | None = None,
) -> dict:
    """The session's ``CHECKOUT_SESSION_FIELDS`` (``status``: open, complete or expired)."""
    session = _call("GET", "/v1/checkout/sessions/{id}", object_id=session_id, config=config,
                    member_id=member_id)
    return {name: session.get(name) for name in CHECKOUT_SESSION_FIELDS}


def expire_checkout_session(
    session_id: str, *, config: StripeSettings | None = None, member_id: int | None = None,
) -> dict:
    return _call("POST", "/v1/checkout/sessions/{id}/expire", object_id=session_id, config=config,
                 member_id=member_id)


# --- Subscriptions ----------------------------------------------------------

def retrieve_subscription(subscription_id: str, *, config: StripeSettings | None = None,
                          member_id: int | None = None) -> dict:
    return _call("GET", "/v1/subscriptions/{id}", object_id=subscription_id, config=config,
                 member_id=member_id)


def cancel_subscription(subscription_id: str, *, config: StripeSettings | None = None,
                        member_id: int | None = None) -> dict:
    # Cancelling is idempotent by nature (a second try says "already canceled"),
    # so no idempotency key: a saved 500 must not be replayed to every retry.
    return _call("DELETE", "/v1/subscriptions/{id}", object_id=subscription_id, config=config,
                 member_id=member_id)


def update_subscription(subscription_id: str, params: dict, *, idempotency_key: str,
                        config: StripeSettings | None = None,
                        member_id: int | None = None) -> dict:
    """Change a subscription (price swap, cancellation schedule); a card decline is a 402."""
    return _call("POST", "/v1/subscriptions/{id}", params, object_id=subscription_id,
                 idempotency_key=idempotency_key, config=config, member_id=member_id)


def list_invoices(customer_id: str, *, limit: int, config: StripeSettings | None = None,
                  member_id: int | None = None) -> list[dict]:
    """The customer's newest ``limit`` invoices, newest first (one page)."""
    page = _call("GET", "/v1/invoices", {"customer": customer_id, "limit": limit},
                 config=config, member_id=member_id)
    return page["data"]


# --- Billing Portal ---------------------------------------------------------------

def create_portal_session(
    customer_id: str, *, return_url: str, idempotency_key: str,
    config: StripeSettings | None = None, member_id: int | None = None,
) -> dict:
    return _call("POST", "/v1/billing_portal/sessions",
                 {"customer": customer_id, "return_url": return_url},
                 idempotency_key=idempotency_key, config=config, member_id=member_id)


def update_portal_configuration(configuration_id: str, params: dict, *,
                                config: StripeSettings | None = None) -> dict:
    """What the configuration allows; the key is derived from what is set (same setting,
    same answer)."""
    key = _derived_key("portal-configuration", {"id": configuration_id, **params})
    return _call("POST", "/v1/billing_portal/configurations/{id}", params,
                 object_id=configuration_id, idempotency_key=key, config=config)


def default_portal_configuration(*, config: StripeSettings | None = None) -> dict | None:
    """The configuration a portal session uses when none is named (``is_default``)."""
    page = _call("GET", "/v1/billing_portal/configurations", {"is_default": True, "limit": 1},
                 config=config)
    return page["data"][0] if page["data"] else None


def list_subscriptions(customer_id: str, *, config: StripeSettings | None = None,
                       member_id: int | None = None) -> list[dict]:
    """Every subscription of a customer, whatever its status (canceled too)."""
    return list(_paginate("/v1/subscriptions",
                          {"customer": customer_id, "status": "all", "limit": 100},
                          config=config, member_id=member_id))


def newest_event_created(*, config: StripeSettings | None = None) -> int | None:
    """``created`` of the account's newest event: a reading of Stripe's own clock.

    Every event that existed before this call was created at or before it, also
    when Stripe's clock runs ahead of ours (the emulator's ``advance``, test clocks).
    """
    page = _call("GET", "/v1/events", {"limit": 1}, config=config)
    return int(page["data"][0]["created"]) if page["data"] else None


def list_events(
    *, created_gte: int, types: list[str] | None = None, config: StripeSettings | None = None,
) -> list[dict]:
    """Events created at or after ``created_gte`` (Stripe lists newest first)."""
    params: dict[str, Any] = {"created": {"gte": created_gte}, "limit": 100}
    if types:
        params["types"] = types
    return list(_paginate("/v1/events", params, config=config))


def _paginate(
    resource: str,
    params: dict,
    *,
    config: StripeSettings | None,
    member_id: int | None = None,
    max_pages: int = 1000,
) -> Iterator[dict]:
    params = dict(params)
    for _ in range(max_pages):
        page = _call("GET", resource, dict(params), config=config, member_id=member_id)
        items = page["data"]
        yield from items
        if not page.get("has_more") or not items:
            return
        params["starting_after"] = items[-1]["id"]


# --- Setup helpers (seed_demo) ---------------------------------------------------
# Used by `manage.py seed_demo` to prepare a Stripe account (or the emulator) for
# the demo: recurring prices, and the webhook endpoint pointing at this site.

def list_prices(
    *, lookup_keys: list[str] | None = None, config: StripeSettings | None = None,
) -> list[dict]:
    """Active prices, optionally only those with one of ``lookup_keys``."""
    params: dict[str, Any] = {"active": True, "limit": 100}
    if lookup_keys:
        params["lookup_keys"] = lookup_keys
    return list(_paginate("/v1/prices", params, config=config))


def create_recurring_price(
    *, product_name: str, unit_amount: int, currency: str, interval: str,
    lookup_key: str, metadata: dict[str, str] | None = None,
    config: StripeSettings | None = None, idempotency_key: str | None = None,
) -> dict:
    """A recurring price with a new product of its own (``product_data``).

    Without ``idempotency_key`` one is derived from the parameters: a re-run after
    a lost answer gets the same price (its ``lookup_key`` is unique in Stripe anyway).
    """
    params = {
        "currency": currency,
        "unit_amount": unit_amount,
        "recurring": {"interval": interval},
        "product_data": {"name": product_name},
        "lookup_key": lookup_key,
        "nickname": product_name,
        "metadata": metadata or {},
    }
    key = idempotency_key or _derived_key("price", params)
    return _call("POST", "/v1/prices", params, idempotency_key=key, config=config)


@sensitive_variables()
def create_webhook_endpoint(
    *, url: str, events: list[str], description: str = "",
    config: StripeSettings | None = None, idempotency_key: str | None = None,
) -> dict:
    """Register ``url``; the answer is the only place Stripe ever shows its ``secret``.

    Without ``idempotency_key`` a new one is made for this call (the SDK's own
    retries reuse it). Not derived from the parameters: an endpoint may be
    deleted and registered again for the same URL, and a replay would hand back
    the deleted one.
    """
    # Events in the version this app reads (the SDK's), not the account's default.
    params: dict[str, Any] = {"url": url, "enabled_events": list(events),
                              "api_version": stripe.api_version}
    if description:
        params["description"] = description
    key = idempotency_key or f"kb-webhook-endpoint-{uuid.uuid4().hex}"
    return _call("POST", "/v1/webhook_endpoints", params, idempotency_key=key, config=config)


def delete_webhook_endpoint(endpoint_id: str, *, config: StripeSettings | None = None) -> dict:
    return _call("DELETE", "/v1/webhook_endpoints/{id}", object_id=endpoint_id, config=config)
