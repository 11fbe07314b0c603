"""Request and response shapes of the Stripe v1 operations (validation + OpenAPI)."""

from __future__ import annotations

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
