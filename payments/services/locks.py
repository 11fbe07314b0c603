"""Row locks and row writes for applying events: member first, then subscription state.

On PostgreSQL the member and the state are locked in one statement; SQLite's
transaction holds the database's write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from django.db import DatabaseError, IntegrityError, connection, transaction

from kuroco_billing.rows import columns, db_values
from members.models import Member

from ..models import SubscriptionState


class Retry(Exception):
    """A row this pass did not see was committed meanwhile: roll back and apply again."""


def lock_member(member_id: int) -> Member:
    return Member.objects.select_for_update().get(pk=member_id)


def lock_state(subscription_id: str) -> SubscriptionState:
    """The subscription's state row, locked, created if new (safe against a racing insert)."""
    state = SubscriptionState.objects.select_for_update().filter(
        subscription_id=subscription_id
    ).first()
    if state is not None:
        return state
    try:
        with transaction.atomic():
            return SubscriptionState.objects.create(subscription_id=subscription_id)
    except IntegrityError:
        # Another transaction created it first; PostgreSQL made us wait for its commit.
        return SubscriptionState.objects.select_for_update().get(subscription_id=subscription_id)


def _locked_member_and_state_sql(where: str) -> str:
    member_table = Member._meta.db_table
    state_table = SubscriptionState._meta.db_table
    select = f"SELECT {columns(Member, 'm')}, {columns(SubscriptionState, 's')}"
    if connection.vendor != "postgresql":
        # SQLite: the transaction holds the database's write lock (BEGIN IMMEDIATE).
        return (f'{select} FROM "{member_table}" m LEFT JOIN "{state_table}" s '
                f'ON s."subscription_id" = %s WHERE m."{where}" = %s')
    # The member is locked first (every writer locks member, then state), then the
    # state: each locked in its own sub-select, so each row read is its newest
    # committed version, never the statement's older snapshot.
    return """{select} FROM (SELECT * FROM "{member}" WHERE "{where}" = %s FOR UPDATE) m
        LEFT JOIN LATERAL (SELECT * FROM "{state}" WHERE "subscription_id" = %s
        AND m."id" IS NOT NULL FOR UPDATE) s ON TRUE""".format(  # noqa: S608, UP032 (model names)
        select=select, member=member_table, where=where, state=state_table)


def lock_member_and_state(
    subscription_id: str, customer_id: str | None, member_id: int | None,
) -> tuple[Member | None, SubscriptionState | None]:
    """The subscription's member and state row, locked together in one read.

    The member is found by customer ID, else by member ID. The state is None
    when the subscription is new here.
    """
    lookups = [("stripe_customer_id", customer_id)] if customer_id else []
    if member_id:
        lookups.append(("id", member_id))
    for column, value in lookups:
        sql = _locked_member_and_state_sql(column)
        params = ([subscription_id, value] if connection.vendor != "postgresql"
                  else [value, subscription_id])
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is not None:
            return _hydrate(row)
    return None, None


def _hydrate(row: tuple) -> tuple[Member, SubscriptionState | None]:
    member_fields = [f.attname for f in Member._meta.concrete_fields]
    state_fields = [f.attname for f in SubscriptionState._meta.concrete_fields]
    split = len(member_fields)
    member = Member.from_db(connection.alias, member_fields, db_values(Member, row[:split]))
    state_row = row[split:]
    if state_row[0] is None:
        return member, None
    return member, SubscriptionState.from_db(
        connection.alias, state_fields, db_values(SubscriptionState, state_row))


_STATE_UPDATE_FIELDS = (
    "customer_id", "member", "status", "price_ids", "current_period_end",
    "cancel_at_period_end", "cancel_at", "trial_end", "created",
    "last_event_created", "last_event_id", "fetched_at", "deleted", "updated_at",
)
_STATE_UPDATE: tuple[str, list] | None = None


def _state_update() -> tuple[str, list]:
    """The state row's UPDATE, compiled once: the ORM's save would compile it every event."""
    global _STATE_UPDATE
    if _STATE_UPDATE is None:
        fields = [SubscriptionState._meta.get_field(name) for name in _STATE_UPDATE_FIELDS]
        sql = 'UPDATE "{table}" SET {columns} WHERE "id" = %s'.format(  # noqa: S608
            table=SubscriptionState._meta.db_table,
            columns=", ".join(f'"{f.column}" = %s' for f in fields))
        _STATE_UPDATE = (sql, fields)
    return _STATE_UPDATE


def save_state(state: SubscriptionState, later: list | None = None) -> None:
    """Write the state row: an insert when new, else one targeted update.

    On PostgreSQL the update may go to ``later`` instead, as ``(sql, params)``
    for the caller to send with its next statement (a data-modifying CTE).
    """
    if state._state.adding:
        try:
            state.save(force_insert=True)
        except IntegrityError:
            # Committed by another transaction after this one's snapshot was taken.
            raise Retry from None
        return
    sql, fields = _state_update()
    params = [*(f.get_db_prep_save(f.pre_save(state, False), connection) for f in fields),
              state.pk]
    if later is not None and connection.vendor == "postgresql":
        later.append((sql, params))
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:  # the row is locked: only a bug gets here
            raise DatabaseError("The subscription state row was not updated.")


# --- Applying ---------------------------------------------------------------
