"""The member's invoices, newest first, as Stripe has them."""

from __future__ import annotations

from members.models import Member

from .. import gateway
from .member_subscription import customer_gone, forget_customer

DEFAULT_LIMIT = 12
MAX_LIMIT = 24
FIELDS = ("id", "number", "status", "amount_due", "amount_paid", "currency", "created",
          "period_start", "period_end", "hosted_invoice_url", "invoice_pdf")


def member_invoices(member: Member, limit: int = DEFAULT_LIMIT, *,
                    forget_gone: bool = True) -> list[dict]:
    """Only the member's own customer's; none before they have one.

    A customer Stripe no longer knows is forgotten (``forget_gone``: the member's own
    request), or the refusal raised (an administrator's page view changes nothing).
    """
    customer_id = Member.objects.filter(pk=member.pk).values_list(
        "stripe_customer_id", flat=True).first()
    if not customer_id:
        return []
    try:
        invoices = gateway.list_invoices(customer_id, limit=max(1, min(limit, MAX_LIMIT)),
                                         member_id=member.pk)
    except gateway.StripeInvalidRequest as exc:
        if not (forget_gone and customer_gone(exc)):
            raise
        # Deleted in Stripe's dashboard: no invoices any more, as portal and checkout
        # see it too; the next checkout makes a new customer.
        forget_customer(member.pk, customer_id)
        return []
    return [{name: invoice.get(name) for name in FIELDS} for invoice in invoices]
