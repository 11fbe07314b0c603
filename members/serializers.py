"""Request and response bodies of the Login v1 operations.

Requests are validated with these; responses are only described by them
(in each API's OpenAPI document). ``messages``/``errors`` are added to every
answer by the dispatcher and described once, in the envelope.
"""

from __future__ import annotations

from rest_framework import serializers

from kuroco_billing.rcms_api.tokens import MAX_TOKEN_LENGTH


class LoginChallengeRequest(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True)
    login_save = serializers.BooleanField(
        required=False, default=False,
        help_text="Keep the session cookie after the browser closes (cookie APIs).",
    )


class LoginInfo(serializers.Serializer):
    validUntil = serializers.IntegerField(help_text="When the grant token expires (unix time).")


class LoginChallengeResponse(serializers.Serializer):
    grant_token = serializers.CharField(
        help_text="Single-use; exchange it at the token endpoint (dynamic-token APIs)."
    )
    status = serializers.IntegerField(help_text="0 on success.")
    member_id = serializers.IntegerField()
    info = LoginInfo()


class TokenRequest(serializers.Serializer):
    grant_token = serializers.CharField(required=False, max_length=MAX_TOKEN_LENGTH)
    refresh_token = serializers.CharField(required=False, max_length=MAX_TOKEN_LENGTH)
    # Also stated in the OpenAPI document (as oneOf).
    exactly_one_of = ("grant_token", "refresh_token")

    def validate(self, attrs: dict) -> dict:
        given = [name for name in self.exactly_one_of if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError("Send exactly one of grant_token or refresh_token.")
        return attrs


class IssuedToken(serializers.Serializer):
    value = serializers.CharField()
    expiresAt = serializers.IntegerField(help_text="Unix time.")


class TokenResponse(serializers.Serializer):
    access_token = IssuedToken(help_text="Send as the X-RCMS-API-ACCESS-TOKEN header.")
    refresh_token = IssuedToken(help_text="Single-use; exchange it for new tokens.")


class LogoutResponse(serializers.Serializer):
    status = serializers.IntegerField(help_text="0 on success.")


class ProfileResponse(serializers.Serializer):
    member_id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField(allow_blank=True)
    group_ids = serializers.DictField(
        child=serializers.CharField(), help_text="Group id → group name."
    )
    stripe_customer_id = serializers.CharField(allow_null=True)
    stripe_subscription_id = serializers.CharField(allow_null=True)
