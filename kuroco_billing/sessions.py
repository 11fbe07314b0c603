"""Django's database sessions, read on every signed-in request by SQL written once.

The same table, format and expiry as ``django.contrib.sessions.backends.db``;
only the read skips the ORM's query compiler (``SESSION_ENGINE``).
"""

from __future__ import annotations

from functools import cache

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from .rows import columns, from_row


@cache
def _read_sql() -> str:
    return 'SELECT {columns} FROM "{table}" s WHERE s."{key}" = %s AND s."{expiry}" > %s'.format(  # noqa: S608 (names from the model)
            columns=columns(Session, "s"), table=Session._meta.db_table,
            key=Session._meta.get_field("session_key").column,
            expiry=Session._meta.get_field("expire_date").column)


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key) -> bool:
        # Keys are made of lower-case letters and digits: anything else (a NUL from an
        # escaped cookie, which the database refuses) is no session, not an error.
        return super()._validate_session_key(key) and key.isascii() and key.isalnum()

    def _get_session_from_db(self) -> Session | None:
        """The unexpired session row, or None (and no key) as Django's own store does."""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(_read_sql(), [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return from_row(Session, row)
