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
