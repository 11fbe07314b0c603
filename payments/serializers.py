"""Request and response shapes of the Stripe v1 operations (validation + OpenAPI)."""

from __future__ import annotations

import re

from rest_framework import serializers


class CheckoutRequest(serializers.Serializer):
    """The body is empty: what is sold and where the buyer returns are set on the endpoint.

    Fields that try to choose them (price, products_list, quantity, line_items,
    success/cancel/return URLs, mode, customer...) are refused with 400.
    """

    @property
    def forbidden_fields(self) -> dict[str, str]:
        """Field name -> why it is refused; also stated in the OpenAPI document."""
        from .operations import FORBIDDEN_CHECKOUT_FIELDS

        return FORBIDDEN_CHECKOUT_FIELDS

    def validate(self, attrs: dict) -> dict:
        initial = self.initial_data if isinstance(self.initial_data, dict) else {}
        errors = {
            name: message for name, message in self.forbidden_fields.items() if name in initial
        }
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class _Envelope(serializers.Serializer):
    messages = serializers.ListField(child=serializers.CharField())
    errors = serializers.ListField(child=serializers.DictField(), help_text="Always empty here.")


class CheckoutResponse(_Envelope):
    url = serializers.URLField(help_text="The Stripe Checkout page to send the member to.")


class CancelOrderResponse(_Envelope):
    status = serializers.ChoiceField(choices=["ok"])
    subscription_id = serializers.CharField(help_text="The subscription that was canceled.")


# --- Self-service: portal, plans, plan change, cancellation schedule, invoices ----------

PRICE_ID_PATTERN = r"^price_[A-Za-z0-9]+$"
ENDPOINT_SETTING = "Set on the endpoint by the administrator, not in the request."


class _RefusesFields(serializers.Serializer):
    """A request whose ``forbidden_fields`` (name -> why) are refused with 400 each."""

    forbidden_fields: dict[str, str] = {}

    def validate(self, attrs: dict) -> dict:
        initial = self.initial_data if isinstance(self.initial_data, dict) else {}
        errors = {name: why for name, why in self.forbidden_fields.items() if name in initial}
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


_NOT_YOURS = "The subscription and customer are always the signed-in member's."


class PortalRequest(_RefusesFields):
    """The body is empty: the return URL is set on the endpoint."""

    forbidden_fields = {"return_url": ENDPOINT_SETTING, "configuration": ENDPOINT_SETTING,
                        "customer": _NOT_YOURS}


class PortalResponse(_Envelope):
    url = serializers.URLField(help_text="The Stripe Billing Portal page to send the member to.")


class GroupIds(serializers.DictField):
    """``{group id: group name}``: the member groups a price grants."""

    child = serializers.CharField()


class PlanItem(serializers.Serializer):
    price_id = serializers.CharField()
    product_name = serializers.CharField()
    amount = serializers.IntegerField(allow_null=True,
                                      help_text="In the currency's smallest unit (cents; yen).")
    currency = serializers.CharField(help_text="Lower case ISO code, e.g. jpy.")
    interval = serializers.CharField(help_text="day, week, month or year.")
    group_ids = GroupIds()
    current = serializers.BooleanField(help_text="The member's live subscription is on it.")


class PlansResponse(_Envelope):
    list = PlanItem(many=True)


class ChangePlanRequest(_RefusesFields):
    """The price to switch to: one of the endpoint's products list."""

    price_id = serializers.RegexField(PRICE_ID_PATTERN, max_length=255,
                                      help_text="A price_… the endpoint offers (see plans).")
    forbidden_fields = {"proration_behavior": ENDPOINT_SETTING,
                        "payment_behavior": ENDPOINT_SETTING,
                        "products_list": ENDPOINT_SETTING, "items": ENDPOINT_SETTING,
                        "subscription_id": _NOT_YOURS, "customer": _NOT_YOURS}

    @classmethod
    def for_endpoint(cls, endpoint) -> type[ChangePlanRequest]:
        """The document lists exactly the prices this endpoint offers."""
        from .services.plan_change import offered_prices

        offered = offered_prices(endpoint.parameters or {})
        if not offered:
            return cls  # nothing offered: any price is answered "not offered"

        class Offered(cls):
            price_id = serializers.RegexField(
                "^(?:{})$".format("|".join(map(re.escape, offered))), max_length=255,
                help_text="A price the endpoint offers (see plans).")

        return Offered


class ChangePlanResponse(_Envelope):
    status = serializers.ChoiceField(choices=["ok"])
    subscription_id = serializers.CharField()
    price_id = serializers.CharField(help_text="The new price.")


class CancelOrderRequest(_RefusesFields):
    """The body is empty: whether the cancel waits for the period end is set on the endpoint."""

    # (A ``subscription_id`` is ignored: only the member's own is ever used, see
    # services.cancel.)
    forbidden_fields = {"at_period_end": ENDPOINT_SETTING,
                        "cancel_at_period_end": ENDPOINT_SETTING}


class CancelAtPeriodEndResponse(CancelOrderResponse):
    """Immediate cancel: ``status`` and ``subscription_id``. At period end, also ``cancel_at``."""

    cancel_at = serializers.IntegerField(
        required=False, help_text="Unix time the subscription ends (endpoints set to "
                                  "cancel at period end).")


class ResumeRequest(_RefusesFields):
    """The body is empty."""

    forbidden_fields = {"subscription_id": _NOT_YOURS}


class ResumeResponse(_Envelope):
    status = serializers.ChoiceField(choices=["ok"])
    subscription_id = serializers.CharField()


class SubscriptionDetail(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField(allow_null=True,
                                   help_text="null until Stripe's first event has arrived.")
    price_id = serializers.CharField(allow_null=True)
    product_name = serializers.CharField()
    amount = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    interval = serializers.CharField()
    current_period_end = serializers.IntegerField(allow_null=True, help_text="Unix time.")
    cancel_at_period_end = serializers.BooleanField()
    cancel_at = serializers.IntegerField(allow_null=True, help_text="Unix time.")
    trial_end = serializers.IntegerField(allow_null=True, help_text="Unix time.")
    group_ids = GroupIds()


class SubscriptionResponse(_Envelope):
    subscription = SubscriptionDetail(allow_null=True,
                                      help_text="null when the member has no subscription.")


class InvoicesQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=24, default=12, required=False,
                                     help_text="How many invoices, newest first (1 to 24).")


class InvoiceItem(serializers.Serializer):
    id = serializers.CharField()
    number = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    amount_due = serializers.IntegerField()
    amount_paid = serializers.IntegerField()
    currency = serializers.CharField()
    created = serializers.IntegerField(help_text="Unix time.")
    period_start = serializers.IntegerField(allow_null=True)
    period_end = serializers.IntegerField(allow_null=True)
    hosted_invoice_url = serializers.URLField(allow_null=True)
    invoice_pdf = serializers.URLField(allow_null=True)


class InvoicesResponse(_Envelope):
    list = InvoiceItem(many=True)
