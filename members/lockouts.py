"""Sign-in lockouts: how long one lasts, the per-address cap, and clearing them.

django-axes records each failure and locks one account from one address; the
policy is in docs/operations.md ("Sign-in lockouts").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from axes.attempts import get_cool_off_threshold
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_credentials, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone


def account_of(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the account a sign-in is for, as sign-in finds it, so that
    another spelling is not another account.

    Sign-in matches the email case-insensitively in the database (``UPPER()``), where
    the dotless i (U+0131) and the long s (U+017F) are "I" and "S": upper case first,
    then lower, gives them the same key as "i" and "s" (lower case alone keeps them).
    """
    field = settings.AXES_USERNAME_FORM_FIELD
    username = (credentials.get(field) if credentials
                else getattr(request, "data", request.POST).get(field))
    return account_key(username) if isinstance(username, str) else username


def account_key(email: str) -> str:
    """The lockout's key for an email, however it is spelled (see ``account_of``)."""
    return email.strip().upper().lower()


# The advisory lock's first key: sign-ins, by account and client address (the second).
_SIGN_IN_LOCK = 0x4B42_5349


@contextmanager
def one_sign_in_at_a_time(request: HttpRequest, username: object) -> Iterator[None]:
    """Check a sign-in's password only after the sign-ins of that account from that
    address before it recorded theirs (PostgreSQL): guesses sent at once are held to
    the limit of guesses sent in turn. Other accounts behind the same address (an
    office's) never wait for each other.

    One transaction, so that the failure axes records is committed before the next
    sign-in reads the count. What raises inside rolls it back: let a refusal out only
    once the block has ended.
    """
    if connection.vendor != "postgresql":
        # SQLite would hold its one write lock through the hash: every writer waits.
        yield
        return
    with transaction.atomic():
        AxesProxyHandler.update_request(request)  # sets request.axes_ip_address
        account = account_key(username) if isinstance(username, str) else ""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                           [_SIGN_IN_LOCK, f"{request.axes_ip_address} {account}"])
        yield


def address_failures(request: HttpRequest) -> QuerySet[AccessAttempt]:
    """The failures recorded from the request's address, for any account, within the cool-off."""
    AxesProxyHandler.update_request(request)
    return AccessAttempt.objects.filter(
        ip_address=request.axes_ip_address,
        attempt_time__gte=get_cool_off_threshold(request),
    )


def address_is_capped(request: HttpRequest) -> bool:
    """Whether this address has used up SIGN_IN_ADDRESS_FAILURE_LIMIT across all accounts."""
    cap = settings.SIGN_IN_ADDRESS_FAILURE_LIMIT
    AxesProxyHandler.update_request(request)  # sets request.axes_ip_address
    if cap <= 0 or get_cool_off(request) is None or request.axes_ip_address is None:
        return False  # no address (e.g. force_login): nothing to count by
    total = address_failures(request).aggregate(total=Sum("failures_since_start"))["total"]
    return (total or 0) >= cap


def _lockout_ends_at(attempts: QuerySet[AccessAttempt], limit: int, cool_off: timedelta
                     ) -> datetime | None:
    # Axes sums the failures of the rows still inside the cool-off, so the lockout
    # ends when the row that brought the sum (newest first) to the limit leaves it.
    counted = 0
    for attempt in attempts.order_by("-attempt_time"):
        counted += attempt.failures_since_start
        if counted >= limit:
            return attempt.attempt_time + cool_off
    return None


def seconds_left(request: HttpRequest, username: str) -> int | None:
    """Seconds until this account may try again from this address (None: never)."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    credentials = get_credentials(username)
    handler = AxesProxyHandler.get_implementation()
    if not hasattr(handler, "get_user_attempts"):  # not the database handler
        return max(1, math.ceil(cool_off.total_seconds()))
    limit = get_failure_limit(request, credentials)
    locks: list[tuple[QuerySet[AccessAttempt], int]] = [
        (attempts, limit) for attempts in handler.get_user_attempts(request, credentials)
    ]
    if settings.SIGN_IN_ADDRESS_FAILURE_LIMIT > 0:
        locks.append((address_failures(request), settings.SIGN_IN_ADDRESS_FAILURE_LIMIT))
    now = timezone.now()
    ends = [_lockout_ends_at(attempts, cap, cool_off) for attempts, cap in locks]
    ends_at = max((end for end in ends if end is not None), default=now)
    if ends_at < now:
        ends_at = now + cool_off
    # Axes still counts a failure exactly one cool-off old: the first moment
    # allowed again is strictly after ends_at.
    return math.floor((ends_at - now).total_seconds()) + 1


def is_locked_out(attempt: AccessAttempt) -> bool:
    """Whether this record alone keeps its account locked from its address right now."""
    cool_off = get_cool_off()
    if cool_off is not None and attempt.attempt_time + cool_off <= timezone.now():
        return False
    limit = settings.AXES_FAILURE_LIMIT
    return isinstance(limit, int) and attempt.failures_since_start >= limit


def clear(attempts: QuerySet[AccessAttempt]) -> int:
    """Forget these failures: their accounts may sign in from those addresses at once."""
    _, deleted = attempts.delete()
    return deleted.get(AccessAttempt._meta.label, 0)
