"""API operation handlers for Stripe v1: ``checkout`` and ``cancel_order`` (see also self_service).

Each takes an OperationContext and returns a dict; failures are ApiError in
the envelope: 503 when the integration is off, 502 when Stripe fails, 400
with the field when Stripe rejects a parameter.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager

from kuroco_billing.rcms_api.context import OperationContext
from kuroco_billing.rcms_api.errors import ApiError

from . import gateway
from .services import cancel as cancel_service
from .services import checkout as checkout_service

logger = logging.getLogger("payments.operations")

# What a front end may not choose: what is sold, how, or where the buyer returns.
FORBIDDEN_CHECKOUT_FIELDS: dict[str, str] = {
    **dict.fromkeys(
        ("price", "prices", "price_id", "products_list", "quantity", "line_items"),
        "What is sold is set on the endpoint, not in the request.",
    ),
    **dict.fromkeys(
        ("success_url", "cancel_url", "return_url", "return_err_url"),
        "Return URLs are set on the endpoint, not in the request.",
    ),
    "mode": "Only subscriptions can be bought; one-time purchases are not supported.",
    "customer": "The customer is always the signed-in member.",
    "customer_email": "Guest checkout is not supported: sign in first.",
    "subscription_data": "Subscription settings are set on the endpoint, not in the request.",
    "trial_period_days": "The trial is set on the endpoint, not in the request.",
}


def refuse_forbidden_fields(data: dict) -> None:
    for name, message in FORBIDDEN_CHECKOUT_FIELDS.items():
        if name in data:
            raise ApiError("bad_request", message, field=name)


def _raw_body(ctx: OperationContext) -> dict:
    # The validated data drops unknown keys; the raw body is checked too so that
    # nothing that tries to choose the product slips through.
    try:
        body = json.loads(ctx.request.body or b"{}")
    except Exception:  # unreadable or already streamed: the validated data is all we have
        return {}
    return body if isinstance(body, dict) else {}


@contextmanager
def stripe_errors():
    """Map gateway exceptions to the API envelope."""
    try:
        yield
    except gateway.StripeNotConfigured as exc:
        raise ApiError(
            "service_unavailable", f"Payments are not available: {exc.message}"
        ) from None
    except gateway.StripeUnavailable as exc:
        raise ApiError("bad_gateway", f"The payment service failed: {exc.message}") from None
    except gateway.StripeInvalidRequest as exc:
        # Every parameter Stripe saw was this site's (the front end never chooses what
        # is sold): not the caller's request to fix, so no 400 and no Stripe field.
        raise ApiError("unprocessable_entity",
                       f"Stripe refused the request: {exc.message}") from None


def checkout(ctx: OperationContext) -> dict:
    refuse_forbidden_fields(ctx.data or {})
    refuse_forbidden_fields(_raw_body(ctx))
    with stripe_errors():
        gateway.refuse_early_if_off()  # 503 when disabled or keyless, before anything else
        try:
            url = checkout_service.start_checkout(ctx.member, ctx.endpoint.parameters or {})
        except checkout_service.CheckoutRefused as exc:
            raise ApiError(exc.code, exc.message, field=exc.field) from None
    return {"url": url}


def cancel_order(ctx: OperationContext) -> dict:
    if (ctx.endpoint.parameters or {}).get("at_period_end"):
        from .self_service import cancel_at_period_end

        return cancel_at_period_end(ctx)
    with stripe_errors():
        gateway.ensure_configured()
        try:
            result = cancel_service.cancel_subscription(ctx.member)
        except cancel_service.NoSubscription:
            raise ApiError("conflict", "You have no subscription to cancel.") from None
        except cancel_service.MemberGone:
            raise ApiError("unauthorized", checkout_service.MEMBER_GONE) from None
    return {
        "status": "ok",
        "subscription_id": result.subscription_id,
        "messages": ["Subscription canceled."],
    }
