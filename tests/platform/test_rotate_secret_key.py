"""manage.py rotate_secret_key: old ciphertext becomes new-key ciphertext."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from payments.crypto import DecryptionError
from payments.models import StripeSettings

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
SECRET = "sk_test_rotate_me_123"
WEBHOOK_SECRET = "whsec_rotate_me_456"
PREVIOUS_SECRET = "whsec_previous_789"


def raw_columns() -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_key, webhook_secret, previous_webhook_secret "
            f"FROM {StripeSettings._meta.db_table}"
        )
        return cursor.fetchone()


def store_secrets_with_old_key() -> None:
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        settings_row = StripeSettings.load()
        settings_row.secret_key = SECRET
        settings_row.webhook_secret = WEBHOOK_SECRET
        settings_row.previous_webhook_secret = PREVIOUS_SECRET
        settings_row.save()


@pytest.mark.django_db
def test_rotation_rewrites_every_secret_so_only_the_new_key_decrypts():
    store_secrets_with_old_key()
    before = raw_columns()
    assert all(Fernet(OLD_KEY.encode()).decrypt(v.encode()) for v in before)

    out = StringIO()
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        call_command("rotate_secret_key", stdout=out)
    assert "Rotated 3 encrypted values" in out.getvalue()

    after = raw_columns()
    assert all(a != b for a, b in zip(after, before, strict=True))
    decrypted = [Fernet(NEW_KEY.encode()).decrypt(v.encode()).decode() for v in after]
    assert decrypted == [SECRET, WEBHOOK_SECRET, PREVIOUS_SECRET]

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        row = StripeSettings.objects.get(pk=1)
        assert (row.secret_key, row.webhook_secret, row.previous_webhook_secret) == (
            SECRET, WEBHOOK_SECRET, PREVIOUS_SECRET,
        )
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]), pytest.raises(DecryptionError):
        StripeSettings.objects.get(pk=1)


@pytest.mark.django_db
def test_empty_secrets_are_left_alone_and_counted_out():
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        row = StripeSettings.load()
        row.secret_key = SECRET
        row.save()

    out = StringIO()
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        call_command("rotate_secret_key", stdout=out)
    assert "Rotated 1 encrypted value " in out.getvalue()
    assert raw_columns()[1:] == ("", "")


@pytest.mark.django_db
def test_without_the_old_key_it_refuses_and_changes_nothing():
    store_secrets_with_old_key()
    before = raw_columns()

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]), pytest.raises(CommandError) as error:
        call_command("rotate_secret_key", stdout=StringIO())
    assert "nothing was changed" in str(error.value)
    assert SECRET not in str(error.value)
    assert raw_columns() == before
