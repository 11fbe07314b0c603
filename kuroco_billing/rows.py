"""Rows read with raw SQL, turned into what the ORM would have given.

For the hot paths that send their own SQL (the webhook, checkout, routing): the
values are converted by the fields' own converters, worked out once.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections

# (alias, vendor, model, fields) -> the attribute names, and the columns that need
# converting: most need none, and a row is then copied as it came.
_PLANS: dict = {}


def db_values(model, values, fields=None, *, conn=None) -> list:
    """Raw database values as the ORM would give them (JSON decoded, datetimes aware)."""
    # The connection is looked up once: through ``django.db.connection`` each attribute
    # is a thread-local lookup, which cost more than the row itself.
    conn = conn or connections[DEFAULT_DB_ALIAS]
    names, converting = _plan(conn, model, fields)
    out = list(values)
    if len(out) != len(names):
        raise ValueError(f"{len(out)} values for {len(names)} fields of {model.__name__}")
    for index, col, converters in converting:
        value = out[index]
        for converter in converters:
            value = converter(value, col, conn)
        out[index] = value
    return out


def from_row(model, values):
    """An instance of ``model`` from its concrete fields' raw values, in field order."""
    conn = connections[DEFAULT_DB_ALIAS]
    return model.from_db(conn.alias, _plan(conn, model, None)[0],
                         db_values(model, values, conn=conn))


def columns(model, alias: str) -> str:
    """``alias."col", ...`` for every concrete field, in the order ``from_row`` expects."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def _plan(conn, model, fields) -> tuple[list[str], list[tuple]]:
    """The fields' names and each converted column's converters, worked out once per
    connection and field list."""
    key = (conn.alias, conn.vendor, model, tuple(fields or ()))
    found = _PLANS.get(key)
    if found is None:
        fields = fields or model._meta.concrete_fields
        converting = []
        for index, f in enumerate(fields):
            col = f.get_col(model._meta.db_table)
            converters = conn.ops.get_db_converters(col) + f.get_db_converters(conn)
            if converters:
                converting.append((index, col, converters))
        found = _PLANS[key] = ([f.attname for f in fields], converting)
    return found
