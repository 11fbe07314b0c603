"""Sign-in and token rules of the front-end API.

Sign-in goes through :func:`django.contrib.auth.authenticate` so that
django-axes counts failures and locks one email out from one client address
(see :mod:`members.lockouts`). Tokens follow Kuroco's dynamic-token flow:
login_challenge → single-use grant token → access + refresh tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY, authenticate, login, logout, user_logged_in
from django.contrib.auth.hashers import check_password
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from kuroco_billing.rcms_api import tokens
from kuroco_billing.rcms_api.errors import ApiError
from kuroco_billing.rcms_api.models import Api, ApiToken, Endpoint

from . import lockouts
from .models import Member, MemberGroup, Membership

logger = logging.getLogger(__name__)

INVALID_CREDENTIALS = "Invalid email or password."
LOCKED_OUT = "Too many failed sign-in attempts. Try again later."
INVALID_GRANT = "The grant token is invalid, expired or already used."
INVALID_REFRESH = "The refresh token is invalid, expired or already used."


@sensitive_variables()
def sign_in(request: HttpRequest, email: str, password: str) -> Member:
    """The active member with these credentials, or ApiError 401 / 429.

    Wrong password, unknown email and inactive member share one message so
    that the answer does not tell which emails exist.
    """
    username = email.strip().lower()
    with lockouts.one_sign_in_at_a_time(request, username):
        member = authenticate(request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        # We answer the lockout in our own envelope; left set, AxesMiddleware
        # would swap our response for its plain-text page.
        request.axes_locked_out = False
        headers = {}
        seconds = lockouts.seconds_left(request, username)
        if seconds is not None:
            headers["Retry-After"] = str(seconds)
        raise ApiError("too_many_requests", LOCKED_OUT, headers=headers)
    if member is None or not member.is_active:
        raise ApiError("unauthorized", INVALID_CREDENTIALS)
    return member


def start_session(request: HttpRequest, member: Member, *, remember: bool) -> None:
    """Sign ``member`` in to the session shared by every cookie API.

    ``login()`` rotates the session key (no session fixation). ``remember``
    keeps the cookie for SESSION_COOKIE_AGE; otherwise it ends with the browser.
    """
    login(request, member)
    request.session.set_expiry(settings.SESSION_COOKIE_AGE if remember else 0)


def record_token_sign_in(request: HttpRequest, member: Member) -> None:
    """Tell Django (last_login) and axes (reset failures) about a token sign-in.

    Dynamic-token APIs open no session, so ``login()`` would be wrong, but the
    signal it sends is still the right thing to send.
    """
    user_logged_in.send(sender=type(member), request=request, user=member)


@sensitive_variables()
def issue_grant(api: Api, member: Member, password: str) -> tokens.IssuedToken:
    """A grant for ``member``, whose ``password`` sign_in just checked; ApiError 401 if
    the password changed or the member was deactivated since.

    Issued under the locks every revocation takes first (tokens.hold_for_issue): a
    change that committed before sees no grant to revoke, so it is refused here; one
    that commits after revokes it.
    """
    with transaction.atomic():
        if not tokens.hold_for_issue(member.pk, api.pk) or not _still_valid(member, password):
            raise ApiError("unauthorized", INVALID_CREDENTIALS)
        return tokens.issue(api, member, ApiToken.Kind.GRANT,
                            settings.RCMS_GRANT_TOKEN_SECONDS)


@sensitive_variables()
def _still_valid(member: Member, password: str) -> bool:
    """Whether the stored member is active with the password sign_in checked. Another
    hash of it (Django re-hashing on a sign-in elsewhere, after a hasher upgrade) is
    checked again, not taken for a change."""
    stored = Member.objects.filter(pk=member.pk, is_active=True).values_list(
        "password", flat=True).first()
    if stored is None:
        return False
    return stored == member.password or check_password(password, stored)


@dataclass(frozen=True)
class TokenPair:
    access: tokens.IssuedToken
    refresh: tokens.IssuedToken


def _lifetime(endpoint: Endpoint, name: str, default: int) -> int:
    value = (endpoint.parameters or {}).get(name, default)
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if seconds <= 0 or isinstance(value, bool):
        logger.warning(
            "Endpoint %s has an invalid %s; using %s seconds.", endpoint.pk, name, default
        )
        return default
    return seconds


def token_lifetimes(endpoint: Endpoint) -> tuple[int, int]:
    """(access, refresh) lifetimes in seconds from the token endpoint's parameters."""
    return (
        _lifetime(endpoint, "access_token_lifetime", tokens.DEFAULT_ACCESS_TOKEN_LIFETIME),
        _lifetime(endpoint, "refresh_token_lifetime", tokens.DEFAULT_REFRESH_TOKEN_LIFETIME),
    )


@sensitive_variables()
def exchange_grant(api: Api, endpoint: Endpoint, raw_grant: str) -> TokenPair:
    """Trade a grant token (once) for an access and a refresh token of its family."""
    pair = _trade(api, endpoint, raw_grant, ApiToken.Kind.GRANT)
    if pair is None:
        raise ApiError("unauthorized", INVALID_GRANT, field="grant_token")
    return pair


@sensitive_variables()
def rotate_refresh(api: Api, endpoint: Endpoint, raw_refresh: str) -> TokenPair:
    """Trade a refresh token for a new pair; the old refresh token and its access token die.

    Presenting a refresh token that was already rotated revokes its whole family.
    """
    pair = _trade(api, endpoint, raw_refresh, ApiToken.Kind.REFRESH)
    if pair is None:
        raise ApiError("unauthorized", INVALID_REFRESH, field="refresh_token")
    return pair


@sensitive_variables()
def _trade(api: Api, endpoint: Endpoint, raw: str, kind: str) -> TokenPair | None:
    """Redeem the token and issue its pair in one transaction (tokens.redeem's locks):
    None when it cannot be traded, with what it refused committed."""
    with transaction.atomic():
        old = tokens.redeem(api, raw, kind)
        if old is None:
            return None
        if not old.member.is_active:
            # Deactivated meanwhile: nothing of this sign-in lives on, should the
            # member be reactivated.
            tokens.revoke_family(old)
            return None
        if kind == ApiToken.Kind.REFRESH:
            tokens.revoke_siblings(old)
        return _issue_pair(api, endpoint, old)


@sensitive_variables()
def _issue_pair(api: Api, endpoint: Endpoint, parent: ApiToken) -> TokenPair:
    access_lifetime, refresh_lifetime = token_lifetimes(endpoint)
    access, refresh = tokens.issue_pair(
        api, parent.member, access_lifetime, refresh_lifetime, family=parent.family
    )
    return TokenPair(access, refresh)


@sensitive_variables()
def member_for_access_token(api: Api, raw: str | None) -> Member | None:
    """The active member an access token of ``api`` stands for, or None."""
    token = tokens.find_usable(api, raw, ApiToken.Kind.ACCESS)
    if token is None or not token.member.is_active:
        return None
    return token.member


def sign_out(request: HttpRequest, api: Api, member: Member) -> None:
    """End the session (cookie API) or revoke the member's tokens on ``api``."""
    if api.security == Api.Security.COOKIE:
        logout(request)
    else:
        tokens.revoke_all(api, member)


def end_every_sign_in(member: Member) -> None:
    """Sign ``member`` out everywhere: every token of every API, every session.

    Sessions would die anyway at their next request (Django checks the
    password hash kept in the session, and refuses inactive members); deleting
    them leaves nothing behind that a later rule change could revive.
    """
    tokens.revoke_member(member)
    _delete_sessions(member)


def _delete_sessions(member: Member) -> None:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):  # not stored in the database
        return
    # Sessions are not indexed by member: decode the live ones. This runs on a
    # password change or deactivation only, never on a request's hot path.
    member_id = str(member.pk)
    sessions = store.get_model_class().objects.filter(expire_date__gt=timezone.now())
    keys = [
        session.session_key
        for session in sessions.only("session_key", "session_data").iterator()
        if str(store().decode(session.session_data).get(SESSION_KEY)) == member_id
    ]
    for key in keys:
        store(session_key=key).delete()


def profile(member: Member) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(_groups_sql(), [member.pk])
        groups = cursor.fetchall()
    return {
        "member_id": member.pk,
        "email": member.email,
        "name": member.name,
        "group_ids": {str(group_id): name for group_id, name in groups},
        "stripe_customer_id": member.stripe_customer_id,
        "stripe_subscription_id": member.stripe_subscription_id,
    }


@cache
def _groups_sql() -> str:
    """A member's groups, ``(id, name)`` in id order, by SQL written once from the models.

    Every signed-in page reads the profile; compiling the ORM's join each time
    took 0.7 to 0.9 ms on the bench host, more than twice the query itself.
    """
    groups, memberships = MemberGroup._meta, Membership._meta
    group_id = memberships.get_field("group").column
    member_id = memberships.get_field("member").column
    return (f'SELECT g."id", g."name" FROM "{groups.db_table}" g '  # noqa: S608 (model names)
            f'JOIN "{memberships.db_table}" ms ON ms."{group_id}" = g."id" '
            f'WHERE ms."{member_id}" = %s ORDER BY g."id"')


__all__ = [
    "TokenPair",
    "end_every_sign_in",
    "exchange_grant",
    "issue_grant",
    "member_for_access_token",
    "profile",
    "record_token_sign_in",
    "rotate_refresh",
    "sign_in",
    "sign_out",
    "start_session",
    "token_lifetimes",
]
