"""Grant, access and refresh tokens of dynamic-token APIs.

A token is ``secrets.token_urlsafe(32)`` handed to the client once; only its
SHA-256 is stored (:class:`~kuroco_billing.rcms_api.models.ApiToken`), so a
leaked database does not leak usable tokens. Lifetimes and revocation: docs/api.md.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
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
    api: Api,
    member,
    kind: str,
    lifetime_seconds: int,
    *,
    now: datetime | None = None,
    family: uuid.UUID | None = None,
) -> IssuedToken:
    """Create a token of ``kind`` for ``member`` on ``api``; the raw value is returned once.

    Without ``family`` the token starts a new one (a grant does).
    """
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
        family=family or uuid.uuid4(),
    )
    return IssuedToken(value, expires_at, record)


@sensitive_variables()
def find(api: Api, raw: str | None, kind: str) -> ApiToken | None:
    """The token of ``kind`` with value ``raw`` issued by ``api``, whatever its state."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    return (
        ApiToken.objects.select_related("member")
        .filter(api=api, kind=kind, token_hash=hash_token(raw))
        .first()
    )


@sensitive_variables()
def find_usable(api: Api, raw: str | None, kind: str) -> ApiToken | None:
    """The unrevoked, unexpired token of ``kind`` with value ``raw`` issued by ``api``.

    A token of another API, another kind, or a revoked or expired one is None:
    callers answer all of them the same way.
    """
    token = find(api, raw, kind)
    if token is None or not token.is_usable:
        return None
    return token


# Issuing and revoking a member's tokens are ordered by locks, so that no revocation
# misses a pair issued at the same moment: a revocation of a member's tokens (a
# password change, a deactivation, a reused token) locks the member's row, and an
# API's (disabled, its security switched) the API's row; a redemption holds both (the
# API's shared) until the pair it issues is committed. Whichever comes second sees what
# the first did: a revoked token, or the new pair to revoke.
def _members_table() -> str:
    return ApiToken._meta.get_field("member").related_model._meta.db_table


def _lock_member(member_id: int) -> bool:
    """Lock the member's row until the transaction ends; False if there is none.

    NO KEY UPDATE on PostgreSQL: it orders these writers (and the member's own
    updates and deletion) without making a foreign-key check of a new token or
    session wait for it, which could close a circle with a lock on the API.
    """
    mode = (" FOR NO KEY UPDATE" if connection.vendor == "postgresql"
            else " FOR UPDATE" if connection.features.has_select_for_update else "")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 FROM "{_members_table()}" WHERE "id" = %s{mode}',  # noqa: S608
                       [member_id])
        return cursor.fetchone() is not None


def hold_for_issue(member_id: int, api_id: int) -> bool:
    """The member locked, and the API held (shared) so that it cannot be disabled
    meanwhile, until the transaction ends; False if either is gone. A redemption takes
    these before it issues a pair, a sign-in before it issues a grant."""
    if not _lock_member(member_id):
        return False
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 FROM "{Api._meta.db_table}" WHERE "id" = %s '  # noqa: S608
                       "FOR SHARE", [api_id])
        return cursor.fetchone() is not None


def lock_before_delete(instance) -> None:
    """pre_delete of a member or an API: its row is locked before its tokens are
    deleted (Django deletes them first), the order a redemption locks in; else the
    two would wait for each other."""
    model = type(instance)
    if connection.features.has_select_for_update:
        list(model.objects.select_for_update().filter(pk=instance.pk).values_list("pk"))


def redeem(api: Api, raw: str | None, kind: str) -> ApiToken | None:
    """Use up a single-use grant or refresh token; None if it cannot be used.

    Call inside a transaction that also issues what the token is traded for: the
    member stays locked until then (the locks above). ``token.member`` is read once
    locked.

    A token presented again after it was used means that two parties hold it,
    one of them a thief, and nobody can tell which: every token of its family
    is revoked and the member signs in again (refresh token rotation as in
    OAuth 2.0 Security BCP, RFC 9700 §4.14).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("redeem() runs inside the transaction that issues its pair.")
    found = find(api, raw, kind)
    if found is None or not hold_for_issue(found.member_id, found.api_id):
        return None
    # Read again once locked: revoked, or deleted with its member or API, meanwhile.
    token = ApiToken.objects.select_related("member").filter(pk=found.pk).first()
    if token is None:
        return None
    if token.revoked_at is not None:  # however old: its successors may still live
        revoke_family(token)
        return None
    if token.expires_at <= timezone.now():
        return None
    if not consume(token):  # used by another request at this very moment
        revoke_family(token)
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
    api: Api, member, access_lifetime: int, refresh_lifetime: int, *, family: uuid.UUID | None
) -> tuple[IssuedToken, IssuedToken]:
    """An access and a refresh token in ``family`` (the grant's or the rotated token's)."""
    now = timezone.now()
    family = family or uuid.uuid4()
    access = issue(api, member, ApiToken.Kind.ACCESS, access_lifetime, now=now, family=family)
    refresh = issue(api, member, ApiToken.Kind.REFRESH, refresh_lifetime, now=now, family=family)
    return access, refresh


def revoke_family(token: ApiToken) -> int:
    """Revoke every live token descending from the same grant as ``token``."""
    if token.family is None:  # issued before families existed
        return 0
    return ApiToken.objects.filter(family=token.family, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def revoke_all(api: Api | int, member=None) -> int:
    """Revoke every live token of ``api`` (of one ``member`` if given)."""
    api_id = api.pk if isinstance(api, Api) else api
    with transaction.atomic():
        if member is not None:
            _lock_member(member.pk)
        else:
            list(Api.objects.select_for_update().filter(pk=api_id).values_list("pk"))
        tokens = ApiToken.objects.filter(api_id=api_id, revoked_at__isnull=True)
        if member is not None:
            tokens = tokens.filter(member=member)
        return tokens.update(revoked_at=timezone.now())


def revoke_member(member) -> int:
    """Revoke every live token of ``member`` on every API."""
    with transaction.atomic():
        _lock_member(member.pk)
        return ApiToken.objects.filter(member=member, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
