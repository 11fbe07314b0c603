"""The logging filter removes Stripe secrets and bearer tokens from every line."""

import logging

import pytest

from kuroco_billing.logging import RedactSecretsFilter


@pytest.mark.parametrize(
    "secret",
    [
        "sk_test_51AbCdEf0123456789",
        "sk_live_51AbCdEf0123456789",
        "rk_test_RestrictedKey42",
        "whsec_abc+/=def",
        "whsec_with-dash_and_underscore",
    ],
)
def test_secrets_are_redacted_from_message_and_arguments(secret):
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "key=%s failed", (secret,), None)

    assert RedactSecretsFilter().filter(record) is True

    assert record.getMessage() == "key=[REDACTED] failed"


def test_bearer_tokens_and_tracebacks_are_redacted():
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "Authorization: Bearer abc.def-ghi", (), None
    )
    record.exc_text = "Traceback: InvalidRequestError sk_test_51Leaky0000"

    RedactSecretsFilter().filter(record)

    assert "abc.def-ghi" not in record.getMessage()
    assert "sk_test_51Leaky0000" not in record.exc_text


def test_harmless_lines_are_left_alone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "event=%s", ("evt_123",), None)

    RedactSecretsFilter().filter(record)

    assert record.getMessage() == "event=evt_123"
