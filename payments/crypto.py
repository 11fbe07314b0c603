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


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


def _development_key() -> bytes:
    # Only reachable with DEBUG on (settings refuse to start otherwise).
    digest = hashlib.sha256(f"field-encryption:{settings.SECRET_KEY}".encode()).digest()
    return base64.urlsafe_b64encode(digest)


def configured_keys() -> list[bytes]:
    keys = [k.strip().encode() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    return keys or [_development_key()]


@cache
def _fernet_for(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def fernet() -> MultiFernet:
    return _fernet_for(tuple(configured_keys()))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _with_keys(fernet().decrypt, token)


def rotate(token: str) -> str:
    """Re-encrypt a token with the first (newest) key."""
    return _with_keys(fernet().rotate, token)


def _with_keys(operation, token: str) -> str:
    try:
        return operation(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY."
        ) from exc
