"""Grant, access and refresh tokens of dynamic-token APIs.

A token is ``secrets.token_urlsafe(32)`` handed to the client once; only its
SHA-256 is stored (:class:`~kuroco_billing.rcms_api.models.ApiToken`), so a
leaked database does not leak usable tokens.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .models import Api, ApiToken, hash_token

DEFAULT_ACCESS_TOKEN_LIFETIME = 3600
DEFAULT_REFRESH_TOKEN_LIFETIME = 14 * 24 * 3600
# Tokens are opaque to clients; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class IssuedToken:
    value: str = field(repr=False)  # shown once to its owner, never in a repr or a report
    expires_at: datetime
    record: ApiToken

    @property
    def expires_at_unix(self) -> int:
        return int(self.expires_at.timestamp())


@sensitive_variables()
def issue(
    api: Api, member, kind: str, lifetime_seconds: int, *, now: datetime | None = None
) -> IssuedToken:
    """Create a token of ``kind`` for ``member`` on ``api``; the raw value is returned once."""
    now = now or timezone.now()
    value = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=lifetime_seconds)
    record = ApiToken.objects.create(
        api=api,
        member=member,
        kind=kind,
        token_hash=hash_token(value),
        expires_at=expires_at,
        created_at=now,
    )
    return IssuedToken(value, expires_at, record)


@sensitive_variables()
def find_usable(api: Api, raw: str | None, kind: str) -> ApiToken | None:
    """The unrevoked, unexpired token of ``kind`` with value ``raw`` issued by ``api``.

    A token of another API, another kind, or a revoked or expired one is None:
    callers answer all of them the same way.
    """
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    token = (
        ApiToken.objects.select_related("member")
        .filter(api=api, kind=kind, token_hash=hash_token(raw))
        .first()
    )
    if token is None or not token.is_usable:
        return None
    return token


def consume(token: ApiToken) -> bool:
    """Revoke ``token`` if nobody else did first; True for the one caller that won.

    The conditional UPDATE makes a grant or refresh token single-use even when
    two requests present it at the same moment.
    """
    return bool(
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def revoke_siblings(token: ApiToken) -> int:
    """Revoke the access tokens issued together with refresh ``token``.

    A pair is issued with one shared ``created_at`` (see :func:`issue_pair`),
    which is what links them without another column.
    """
    return ApiToken.objects.filter(
        api_id=token.api_id,
        member_id=token.member_id,
        kind=ApiToken.Kind.ACCESS,
        created_at=token.created_at,
        revoked_at__isnull=True,
    ).update(revoked_at=timezone.now())


@sensitive_variables()
def issue_pair(
    api: Api, member, access_lifetime: int, refresh_lifetime: int
) -> tuple[IssuedToken, IssuedToken]:
    now = timezone.now()
    access = issue(api, member, ApiToken.Kind.ACCESS, access_lifetime, now=now)
    refresh = issue(api, member, ApiToken.Kind.REFRESH, refresh_lifetime, now=now)
    return access, refresh


def revoke_all(api: Api | int, member=None) -> int:
    """Revoke every live token of ``api`` (of one ``member`` if given)."""
    tokens = ApiToken.objects.filter(api=api, revoked_at__isnull=True)
    if member is not None:
        tokens = tokens.filter(member=member)
    return tokens.update(revoked_at=timezone.now())
