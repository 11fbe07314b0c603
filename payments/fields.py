"""A text field whose value is encrypted in the database."""

from __future__ import annotations

from django.db import models
from django.views.decorators.debug import sensitive_variables

from . import crypto


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python code only ever sees the plaintext."""

    description = "Text encrypted at rest"

    @sensitive_variables()
    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return crypto.decrypt(value)

    @sensitive_variables()
    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return crypto.encrypt(value)


class VerbatimJSONField(models.JSONField):
    """JSON kept as the text it came as: PostgreSQL's ``json`` type, not ``jsonb``.

    For the webhook event log: jsonb parsed each body once more on the way in and wrote
    it out again for the drain (44 µs of the database's CPU for a 3.6 kB Stripe event),
    and what it held was no longer the body that was signed. Nothing queries inside it
    with jsonb's operators. Elsewhere, a plain JSONField.
    """

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        adapted = super().get_db_prep_value(value, connection, prepared)
        if connection.vendor != "postgresql" or not hasattr(adapted, "dumps"):
            return adapted
        from psycopg.types.json import Json

        return Json(adapted.obj, dumps=adapted.dumps)  # sent as json, not as jsonb

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, str | bytes):
            return value  # psycopg decodes json itself (Django asks it not to for jsonb)
        return super().from_db_value(value, expression, connection)
