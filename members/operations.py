"""Login v1 operations of the front-end API: ``handler(ctx) -> dict``.

Each is bound to an endpoint through the catalogue; the dispatcher has
already routed, checked security and validated ``ctx.data``.
"""

from __future__ import annotations

from django.views.decorators.debug import sensitive_variables

from kuroco_billing.rcms_api.context import OperationContext
from kuroco_billing.rcms_api.errors import ApiError
from kuroco_billing.rcms_api.models import Api

from . import services


@sensitive_variables()
def login_challenge(ctx: OperationContext) -> dict:
    member = services.sign_in(ctx.request, ctx.data["email"], ctx.data["password"])
    if ctx.api.security == Api.Security.COOKIE:
        services.start_session(ctx.request, member, remember=ctx.data.get("login_save", False))
    else:
        services.record_token_sign_in(ctx.request, member)
    # Cookie APIs get one too (Kuroco's answer has the same shape); it is
    # usable nowhere there, as cookie APIs have no token endpoint.
    try:
        grant = services.issue_grant(ctx.api, member, ctx.data["password"])
    except ApiError:
        if ctx.api.security == Api.Security.COOKIE:
            # Changed while it was checked: the session login() made must not live on
            # (a deactivation would otherwise revive it with the member).
            ctx.request.session.flush()
        raise
    return {
        "grant_token": grant.value,
        "status": 0,
        "member_id": member.pk,
        "info": {"validUntil": grant.expires_at_unix},
    }


@sensitive_variables()
def token(ctx: OperationContext) -> dict:
    if ctx.data.get("grant_token"):
        pair = services.exchange_grant(ctx.api, ctx.endpoint, ctx.data["grant_token"])
    else:
        pair = services.rotate_refresh(ctx.api, ctx.endpoint, ctx.data["refresh_token"])
    return {
        "access_token": {"value": pair.access.value, "expiresAt": pair.access.expires_at_unix},
        "refresh_token": {"value": pair.refresh.value, "expiresAt": pair.refresh.expires_at_unix},
    }


def logout(ctx: OperationContext) -> dict:
    services.sign_out(ctx.request, ctx.api, ctx.member)
    return {"status": 0, "messages": ["Logged out."]}


def profile(ctx: OperationContext) -> dict:
    return services.profile(ctx.member)
