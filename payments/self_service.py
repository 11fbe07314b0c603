"""API operation handlers for the member's self-service: portal, plans, plan change, schedule.

Thin: each reads the endpoint's settings and the member, calls one service
function and shapes its answer. Refusals become ApiError in the envelope.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

from kuroco_billing.rcms_api.context import OperationContext
from kuroco_billing.rcms_api.errors import ApiError

from . import gateway
from .operations import stripe_errors
from .services import invoices as invoice_service
from .services import plan_change, plans, portal, schedule
from .services.member_subscription import Refused


@contextmanager
def refusals():
    """Stripe's failures and the services' refusals, in the envelope."""
    with stripe_errors():
        try:
            yield
        except Refused as refused:
            raise ApiError(refused.code, refused.message, field=refused.field,
                           status=refused.status) from None


def _parameters(ctx: OperationContext) -> dict:
    return ctx.endpoint.parameters or {}


def portal_session(ctx: OperationContext) -> dict:
    with refusals():
        gateway.ensure_configured()
        return {"url": portal.portal_url(ctx.member, _parameters(ctx))}


def list_plans(ctx: OperationContext) -> dict:
    with refusals():
        gateway.ensure_configured()
        return {"list": plans.offered_plans(ctx.member, _parameters(ctx))}


def change_plan(ctx: OperationContext) -> dict:
    with refusals():
        gateway.ensure_configured()
        applied = plan_change.change_plan(ctx.member, ctx.data["price_id"], _parameters(ctx))
    return {"status": "ok", "subscription_id": applied.subscription["id"],
            "price_id": ctx.data["price_id"], "messages": ["Plan changed."]}


def cancel_at_period_end(ctx: OperationContext) -> dict:
    with refusals():
        gateway.ensure_configured()
        applied = schedule.cancel_at_period_end(ctx.member)
    cancel_at = int(applied.subscription.get("cancel_at") or 0) or None
    ends = datetime.fromtimestamp(cancel_at, tz=UTC).date().isoformat() if cancel_at else "?"
    return {"status": "ok", "subscription_id": applied.subscription["id"],
            "cancel_at": cancel_at, "messages": [f"Your subscription ends on {ends}."]}


def resume(ctx: OperationContext) -> dict:
    with refusals():
        gateway.ensure_configured()
        applied = schedule.resume(ctx.member)
    return {"status": "ok", "subscription_id": applied.subscription["id"],
            "messages": ["Subscription resumed."]}


def subscription(ctx: OperationContext) -> dict:
    with refusals():
        gateway.ensure_configured()  # 503 while payments are off, like every Stripe operation
    return {"subscription": plans.subscription_answer(ctx.member)}


def invoices(ctx: OperationContext) -> dict:
    limit = ctx.data.get("limit") or invoice_service.DEFAULT_LIMIT
    with refusals():
        gateway.ensure_configured()
        return {"list": invoice_service.member_invoices(ctx.member, limit)}
