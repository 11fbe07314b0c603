"""Stripe's documented limits on request values, and the decoder's own bounds on a request."""

from __future__ import annotations

from typing import Any

from .errors import StripeError, invalid

# https://docs.stripe.com/api/metadata
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts (eight digits)
MAX_AMOUNT = 99_999_999
# Stripe's API declares most string parameters with ``maxLength: 5000``.
MAX_STRING_LENGTH = 5000
MAX_INTEGER = 2**63 - 1  # Stripe's integers are 64-bit

# What the form decoder accepts before it builds anything: no Stripe parameter is nested
# more than a few levels or needs thousands of fields (Rack, which Stripe runs on, has a
# similar depth limit).
MAX_DEPTH = 16
MAX_PARAMS = 2000
MAX_BODY_BYTES = 8 * 1024 * 1024


def shorten(text: str, length: int = 20) -> str:
    return text if len(text) <= length else text[:length] + "..."


def check_string(value: str, param: str, max_length: int = MAX_STRING_LENGTH) -> str:
    if len(value) > max_length:
        raise invalid(param, f"Invalid string: {shorten(value)}; must be at most "
                      f"{max_length} characters", code="parameter_invalid_string")
    return value


def check_integer(value: int, param: str, *, minimum: int | None = None,
                  maximum: int = MAX_INTEGER) -> int:
    if minimum is not None and value < minimum:
        raise invalid(param, f"This value must be greater than or equal to {minimum}.",
                      code="parameter_invalid_integer")
    if value > maximum or value < -MAX_INTEGER:
        raise invalid(param, f"This value must be less than or equal to {maximum}.",
                      code="parameter_invalid_integer")
    return value


def check_amount(value: int, param: str) -> int:
    return check_integer(value, param, minimum=0, maximum=MAX_AMOUNT)


def check_metadata(metadata: dict[str, Any], param: str = "metadata") -> dict[str, Any]:
    """Raise unless ``metadata`` (the object's whole metadata after the update) fits."""
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise invalid(f"{param}[{shorten(key, 200)}]",
                          f"Metadata keys can have up to {MAX_METADATA_KEY_LENGTH} "
                          f"characters; '{shorten(key)}' has {len(key)}.")
        if len(str(value)) > MAX_METADATA_VALUE_LENGTH:
            raise invalid(f"{param}[{shorten(key, 200)}]",
                          f"Metadata values can have up to {MAX_METADATA_VALUE_LENGTH} "
                          f"characters; the value of '{key}' has {len(str(value))}.")
    if len(metadata) > MAX_METADATA_KEYS:
        raise invalid(param, f"Metadata can have up to {MAX_METADATA_KEYS} keys; this "
                      f"request would give it {len(metadata)}.")
    return metadata


def body_too_large() -> StripeError:
    return StripeError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
