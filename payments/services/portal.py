"""A Stripe Billing Portal session for the member's own customer."""

from __future__ import annotations

import uuid

from members.models import Member

from .. import gateway
from .member_subscription import Refused, conflict, customer_gone, forget_customer

NO_CUSTOMER = "You have no billing account yet: subscribe first."


def portal_url(member: Member, parameters: dict) -> str:
    """The session's URL. The return URL is the endpoint's, never the caller's.

    A session changes nothing by itself, so there is no intent to record: the
    key only makes the SDK's own retries return the same session.
    """
    return_url = parameters.get("return_url") or ""
    if not return_url:
        raise Refused("unprocessable_entity",
                      "This portal endpoint has no return URL configured.",
                      status=422, field="return_url")
    customer_id = Member.objects.filter(pk=member.pk).values_list(
        "stripe_customer_id", flat=True).first()
    if not customer_id:
        raise conflict(NO_CUSTOMER)
    try:
        session = gateway.create_portal_session(
            customer_id, return_url=return_url,
            idempotency_key=f"kb-portal-{uuid.uuid4().hex}", member_id=member.pk)
    except gateway.StripeInvalidRequest as exc:
        if customer_gone(exc):  # deleted in Stripe: no account until the next checkout
            forget_customer(member.pk, customer_id)
            raise conflict(NO_CUSTOMER) from None
        raise
    return session["url"]
