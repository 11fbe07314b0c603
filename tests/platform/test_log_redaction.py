"""The logging filter removes Stripe secrets and bearer tokens from every line."""

import logging
import random

import pytest

from kuroco_billing.logging import _SECRET_PATTERNS, RedactSecretsFilter, redact


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


def test_bearer_tokens_are_redacted():
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "Authorization: Bearer abc.def-ghi", (), None
    )

    RedactSecretsFilter().filter(record)

    assert "abc.def-ghi" not in record.getMessage()


def test_a_traceback_is_redacted_as_the_console_writes_it():
    """The traceback's text is made when the line is formatted, after the filters ran:
    what settings.LOGGING's console handler writes is what is checked."""
    import io

    [console] = [h for h in logging.getLogger().handlers
                 if any(isinstance(f, RedactSecretsFilter) for f in h.filters)]
    written = io.StringIO()
    before = console.setStream(written)
    try:
        try:
            raise ValueError("Stripe said: invalid key sk_test_51Leaky0000")
        except ValueError:
            logging.getLogger("payments.admin").exception("Stripe setup check failed")
    finally:
        console.setStream(before)

    assert "Stripe setup check failed" in written.getvalue()
    assert "ValueError: Stripe said: invalid key [REDACTED]" in written.getvalue()
    assert "sk_test_51Leaky0000" not in written.getvalue()


def test_harmless_lines_are_left_alone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "event=%s", ("evt_123",), None)

    RedactSecretsFilter().filter(record)

    assert record.getMessage() == "event=evt_123"


@pytest.mark.parametrize("line", [
    "auth: BEARER tok.en-1", "auth: bEaReR\ttok_2", "x sk_live_Z9 y", "rk_test_A,whsec_q",
    "no marker but k_ here sk_nope", "whsec_", "Bearer", "evt_1 duration_ms=3",
])
def test_the_quick_look_for_a_secret_never_skips_one(line):
    """Lines without a marker skip the pattern; every line still reads as the pattern makes it."""
    assert redact(line) == _SECRET_PATTERNS.sub("[REDACTED]", line)


def test_redaction_matches_the_pattern_on_random_lines():
    rng = random.Random(9)
    pieces = ["sk_", "rk_", "test_", "live_", "whsec_", "bearer ", "BeArEr  ", "k_", "\u017fk_",
              "\u212a_", "K_", "abc", "Z9", "=", "/", "-", " ", "\t", "é", "İ", "_", "."]
    for _ in range(3000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert redact(line) == _SECRET_PATTERNS.sub("[REDACTED]", line), line
