"""Encryption of secrets at rest (Stripe secret key, webhook secrets).

Fernet (AES-128-CBC + HMAC-SHA256) from the `cryptography` package. Keys come
from FIELD_ENCRYPTION_KEY, comma separated: the first encrypts, every key
decrypts, so keys can be rotated with `manage.py rotate_secret_key`.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""

    # What an operator is told (logs, 503 answers): the cause, never a key.
    CAUSE = ("a stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY "
             "(wrong key, or the key it was encrypted with was removed)")

    def __init__(self) -> None:
        super().__init__(f"Decryption failed: {self.CAUSE}.")


@sensitive_variables()
def _development_key() -> bytes:
    # Only reachable with DEBUG on (settings refuse to start otherwise).
    digest = hashlib.sha256(f"field-encryption:{settings.SECRET_KEY}".encode()).digest()
    return base64.urlsafe_b64encode(digest)


@sensitive_variables()
def configured_keys() -> list[bytes]:
    keys = [k.strip().encode() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    return keys or [_development_key()]


@cache
@sensitive_variables()
def _fernet_for(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


@sensitive_variables()
def fernet() -> MultiFernet:
    return _fernet_for(tuple(configured_keys()))


@sensitive_variables()
def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


@sensitive_variables()
def decrypt(token: str) -> str:
    return _with_keys(fernet().decrypt, token)


@sensitive_variables()
def rotate(token: str) -> str:
    """Re-encrypt a token with the first (newest) key."""
    return _with_keys(fernet().rotate, token)


@sensitive_variables()
def _with_keys(operation, token: str) -> str:
    try:
        return operation(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError() from None
