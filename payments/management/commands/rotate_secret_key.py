"""Re-encrypt every secret stored at rest with the newest FIELD_ENCRYPTION_KEY.

Procedure (see docs/operations.md): put the new key first in
FIELD_ENCRYPTION_KEY, keep the old ones after it, restart, run this command,
then drop the old keys.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from payments import crypto
from payments.fields import EncryptedTextField


def encrypted_columns() -> list[tuple[str, str, list[str]]]:
    """(table, primary key column, encrypted columns) for every model that has any."""
    found = []
    for model in apps.get_models():
        columns = [
            field.column
            for field in model._meta.concrete_fields
            if isinstance(field, EncryptedTextField)
        ]
        if columns:
            found.append((model._meta.db_table, model._meta.pk.column, columns))
    return found


def rotate_all() -> int:
    """Rotate every non-empty encrypted value; returns how many were rewritten.

    Works on the raw column values with SQL: going through the ORM would
    decrypt on read and re-encrypt on save, which is not the same as proving
    each ciphertext decrypts with a configured key and rewriting it.
    """
    quote = connection.ops.quote_name
    rotated = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for table, pk_column, columns in encrypted_columns():
            cursor.execute(
                f"SELECT {quote(pk_column)}, {', '.join(quote(c) for c in columns)} "  # noqa: S608
                f"FROM {quote(table)}"
            )
            for pk, *values in cursor.fetchall():
                for column, value in zip(columns, values, strict=True):
                    if not value:
                        continue
                    cursor.execute(
                        f"UPDATE {quote(table)} SET {quote(column)} = %s "  # noqa: S608
                        f"WHERE {quote(pk_column)} = %s",
                        [crypto.rotate(value), pk],
                    )
                    rotated += 1
    return rotated


class Command(BaseCommand):
    help = (
        "Re-encrypt the Stripe secret key and webhook secrets with the first key of "
        "FIELD_ENCRYPTION_KEY (new key first, old keys after it)."
    )

    def handle(self, *args, **options) -> None:
        try:
            rotated = rotate_all()
        except crypto.DecryptionError as exc:
            # Atomic: nothing was rewritten. Never print the ciphertext or the keys.
            raise CommandError(
                f"{exc} Add the old key after the new one in FIELD_ENCRYPTION_KEY "
                "and run this command again; nothing was changed."
            ) from exc
        noun = "value" if rotated == 1 else "values"
        self.stdout.write(
            self.style.SUCCESS(f"Rotated {rotated} encrypted {noun} to the newest key.")
        )
