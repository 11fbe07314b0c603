"""The operations an endpoint can be bound to, as Kuroco names them.

Handlers are dotted paths, imported on first use, so this module stays free
of the apps that implement them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    category: str
    model: str
    name: str
    method: str
    handler: str
    summary: str
    # DRF serializers (dotted paths) describing the body and the answer; they
    # validate requests and feed the per-API OpenAPI document.
    request_serializer: str | None = None
    response_serializer: str | None = None
    needs_member: bool = True
    dynamic_token_only: bool = False
    # Error statuses of the operation itself, beyond those of every endpoint.
    error_statuses: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.category}:{self.model}:{self.name}"

    @property
    def label(self) -> str:
        return f"{self.category} / {self.model} / {self.name}"


AUTHENTICATION = "Authentication"
PAYMENTS = "Payments"
LOGIN_V1 = "Login v1"
STRIPE_V1 = "Stripe v1"

OPERATIONS: tuple[Operation, ...] = (
    Operation(AUTHENTICATION, LOGIN_V1, "login_challenge", "POST",
              "members.operations.login_challenge", "Sign in with email and password",
              "members.serializers.LoginChallengeRequest",
              "members.serializers.LoginChallengeResponse",
              needs_member=False),
    Operation(AUTHENTICATION, LOGIN_V1, "token", "POST",
              "members.operations.token", "Exchange a grant or refresh token for tokens",
              "members.serializers.TokenRequest", "members.serializers.TokenResponse",
              needs_member=False, dynamic_token_only=True),
    Operation(AUTHENTICATION, LOGIN_V1, "logout", "POST",
              "members.operations.logout", "Sign out",
              None, "members.serializers.LogoutResponse"),
    Operation(AUTHENTICATION, LOGIN_V1, "profile", "GET",
              "members.operations.profile", "The signed-in member's profile",
              None, "members.serializers.ProfileResponse"),
    Operation(PAYMENTS, STRIPE_V1, "checkout", "POST",
              "payments.operations.checkout", "Start a Stripe Checkout for a subscription",
              "payments.serializers.CheckoutRequest", "payments.serializers.CheckoutResponse",
              error_statuses=(409, 422, 502)),
    Operation(PAYMENTS, STRIPE_V1, "cancel_order", "POST",
              "payments.operations.cancel_order",
              "Cancel the member's subscription (now, or at period end if the endpoint says so)",
              "payments.serializers.CancelOrderRequest",
              "payments.serializers.CancelAtPeriodEndResponse",
              error_statuses=(409, 422, 502)),
    Operation(PAYMENTS, STRIPE_V1, "portal", "POST",
              "payments.self_service.portal_session",
              "Open the Stripe Billing Portal for the member's customer",
              "payments.serializers.PortalRequest", "payments.serializers.PortalResponse",
              error_statuses=(409, 422, 502)),
    Operation(PAYMENTS, STRIPE_V1, "plans", "GET",
              "payments.self_service.list_plans", "The plans this endpoint offers",
              None, "payments.serializers.PlansResponse"),
    Operation(PAYMENTS, STRIPE_V1, "change_plan", "POST",
              "payments.self_service.change_plan",
              "Switch the member's subscription to another offered price",
              "payments.serializers.ChangePlanRequest", "payments.serializers.ChangePlanResponse",
              error_statuses=(402, 409, 422, 502)),
    Operation(PAYMENTS, STRIPE_V1, "resume", "POST",
              "payments.self_service.resume", "Undo a scheduled cancellation",
              "payments.serializers.ResumeRequest", "payments.serializers.ResumeResponse",
              error_statuses=(409, 422, 502)),
    Operation(PAYMENTS, STRIPE_V1, "subscription", "GET",
              "payments.self_service.subscription",
              "The member's subscription (from the database, no Stripe call)",
              None, "payments.serializers.SubscriptionResponse"),
    Operation(PAYMENTS, STRIPE_V1, "invoices", "GET",
              "payments.self_service.invoices", "The member's invoices, newest first",
              "payments.serializers.InvoicesQuery", "payments.serializers.InvoicesResponse",
              error_statuses=(422, 502)),
)

BY_KEY: dict[str, Operation] = {op.key: op for op in OPERATIONS}
BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
CHOICES = [(op.name, op.label) for op in OPERATIONS]
CATEGORIES = sorted({op.category for op in OPERATIONS})
