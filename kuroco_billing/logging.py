"""A last line of defence: no Stripe secret or bearer token reaches a log line.

Code should never log secrets in the first place; this filter catches the
mistakes (an exception message that quotes a key, say) before they are written.
"""

import logging
import re

from django.views.decorators.debug import sensitive_variables

_SECRET_PATTERNS = re.compile(
    r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]+"
    r"|\bwhsec_[A-Za-z0-9+/=_-]+"
    r"|(?i:bearer\s+)[A-Za-z0-9._\-]+"
)


@sensitive_variables()
def redact(text: str) -> str:
    # Most lines hold none of the markers every match starts with: looking for them
    # costs a tenth of the pattern, which every log line would pay.
    if "k_" not in text and "whsec_" not in text and "bearer" not in text.lower():
        return text
    return _SECRET_PATTERNS.sub("[REDACTED]", text)


class RedactSecretsFilter(logging.Filter):
    """The message; a traceback has no text yet when filters run (RedactingFormatter)."""

    @sensitive_variables()
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingFormatter(logging.Formatter):
    """Tracebacks and stacks, as they are written out (after the filters)."""

    @sensitive_variables()
    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))

    @sensitive_variables()
    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))
