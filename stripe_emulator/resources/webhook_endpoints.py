"""Webhook endpoints: create (the only call that returns ``secret``), retrieve, update, delete,
list."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from ..context import Ctx
from ..errors import invalid, missing_param
from ..limits import shorten
from ..listing import paginate
from ..params import get_bool, get_list, get_str, merge_metadata
from ..state import random_token
from ..webhooks import url_refusal
from .common import Route, require

# Event types an endpoint may ask for. The emulator emits a subset (see docs/emulator.md);
# the others are accepted so an app can subscribe the way it would on real Stripe.
KNOWN_EVENTS = sorted({
    "account.updated", "balance.available", "charge.captured", "charge.failed",
    "charge.refunded", "charge.succeeded", "charge.dispute.created",
    "checkout.session.async_payment_failed", "checkout.session.async_payment_succeeded",
    "checkout.session.completed", "checkout.session.expired",
    "customer.created", "customer.deleted", "customer.updated",
    "customer.subscription.created", "customer.subscription.deleted",
    "customer.subscription.paused", "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired", "customer.subscription.resumed",
    "customer.subscription.trial_will_end", "customer.subscription.updated",
    "invoice.created", "invoice.deleted", "invoice.finalization_failed", "invoice.finalized",
    "invoice.marked_uncollectible", "invoice.overdue", "invoice.paid",
    "invoice.payment_action_required", "invoice.payment_failed", "invoice.payment_succeeded",
    "invoice.sent", "invoice.upcoming", "invoice.updated", "invoice.voided",
    "payment_intent.created", "payment_intent.payment_failed", "payment_intent.succeeded",
    "payment_method.attached", "plan.created", "plan.deleted", "plan.updated",
    "price.created", "price.deleted", "price.updated",
    "product.created", "product.deleted", "product.updated",
})
EMITTED_EVENTS = [
    "checkout.session.completed", "checkout.session.expired",
    "customer.created", "customer.updated", "customer.deleted",
    "customer.subscription.created", "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.created", "invoice.paid", "invoice.payment_failed", "invoice.payment_succeeded",
    "product.created", "product.updated", "price.created", "price.updated",
]


def public(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in endpoint.items() if k != "secret"}


def _events(params: dict[str, Any]) -> list[str]:
    events = [str(e) for e in get_list(params, "enabled_events")]
    for i, name in enumerate(events):
        if name != "*" and name not in KNOWN_EVENTS:
            raise invalid(f"enabled_events[{i}]", f"Invalid enabled_events[{i}]: must be one "
                          f"of {', '.join(['*', *KNOWN_EVENTS])}")
    return events


def _url(ctx: Ctx, params: dict[str, Any]) -> str:
    url = get_str(params, "url", required=True) or ""
    try:
        parsed = urlparse(url)
        ok = parsed.scheme in ("http", "https") and bool(parsed.hostname)
    except ValueError:  # e.g. "http://[::1"
        ok = False
    if not ok:
        raise invalid("url", f"Invalid URL: {shorten(url, 100)}. URLs must begin with "
                      "http:// or https://.", code="url_invalid")
    refusal = url_refusal(url, allow_remote=ctx.allow_remote_webhooks)
    if refusal:
        raise invalid("url", refusal, code="url_invalid")
    return url


def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    url = _url(ctx, params)
    if "enabled_events" not in params:
        raise missing_param("enabled_events")
    events = _events(params)
    if not events:
        raise missing_param("enabled_events")
    endpoint = {
        "id": ctx.store.new_id("we_"),
        "object": "webhook_endpoint",
        "api_version": get_str(params, "api_version") or None,
        "application": None,
        "created": ctx.store.now(),
        "description": get_str(params, "description") or None,
        "enabled_events": events,
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata")),
        "status": "enabled",
        "url": url,
    }
    secret = "whsec_" + random_token(32)
    with ctx.store.transaction():
        ctx.store.private["endpoint_secrets"][endpoint["id"]] = secret
        ctx.store.put("webhook_endpoint", endpoint)
    return {**endpoint, "secret": secret}


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return public(require(ctx, "webhook_endpoint", id))


def update(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    endpoint = require(ctx, "webhook_endpoint", id)
    if "url" in params:
        endpoint["url"] = _url(ctx, params)
    if "enabled_events" in params:
        endpoint["enabled_events"] = _events(params) or endpoint["enabled_events"]
    if "description" in params:
        endpoint["description"] = get_str(params, "description") or None
    if "metadata" in params:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], params["metadata"])
    disabled = get_bool(params, "disabled")
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    ctx.store.put("webhook_endpoint", endpoint)
    return public(endpoint)


def delete(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    require(ctx, "webhook_endpoint", id)
    with ctx.store.transaction():
        ctx.store.delete("webhook_endpoint", id)
        ctx.store.private["endpoint_secrets"].pop(id, None)
    return {"id": id, "object": "webhook_endpoint", "deleted": True}


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    items = [public(e) for e in ctx.store.all("webhook_endpoint")]
    return paginate(items, params, "/v1/webhook_endpoints", "webhook endpoint")




ROUTES: list[Route] = [
    ("POST", "/v1/webhook_endpoints", create),
    ("GET", "/v1/webhook_endpoints", list_),
    ("GET", "/v1/webhook_endpoints/<id>", retrieve),
    ("POST", "/v1/webhook_endpoints/<id>", update),
    ("DELETE", "/v1/webhook_endpoints/<id>", delete),
]
