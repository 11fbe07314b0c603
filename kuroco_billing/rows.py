"""Rows read with raw SQL, turned into what the ORM would have given.

For the hot paths that send their own SQL (the webhook, checkout, routing): the
values are converted by the fields' own converters, worked out once.
"""

from __future__ import annotations

from django.db import connection

_CONVERTERS: dict = {}


def db_values(model, values, fields=None) -> list:
    """Raw database values as the ORM would give them (JSON decoded, datetimes aware)."""
    out = []
    for (col, converters), value in zip(_converters(model, fields), values, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        out.append(value)
    return out


def from_row(model, values):
    """An instance of ``model`` from its concrete fields' raw values, in field order."""
    names = [f.attname for f in model._meta.concrete_fields]
    return model.from_db(connection.alias, names, db_values(model, values))


def columns(model, alias: str) -> str:
    """``alias."col", ...`` for every concrete field, in the order ``from_row`` expects."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def _converters(model, fields) -> list:
    """Each field's column and converters, worked out once per connection and field list."""
    key = (connection.alias, connection.vendor, model, tuple(fields or ()))
    found = _CONVERTERS.get(key)
    if found is None:
        found = []
        for f in fields or model._meta.concrete_fields:
            col = f.get_col(model._meta.db_table)
            found.append((col, connection.ops.get_db_converters(col)
                          + f.get_db_converters(connection)))
        _CONVERTERS[key] = found
    return found
