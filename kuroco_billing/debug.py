"""Error reports (Django's debug page, mailed reports) hide secrets with DEBUG on too."""

import re

from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Honours ``sensitive_variables``/``sensitive_post_parameters`` whatever DEBUG says.

    Django's own filter stands down when DEBUG is on, and a development
    machine with DEBUG on still holds real test-mode keys and passwords.
    Settings and environment variables holding URLs with credentials
    (``DATABASE_URL``, ``CACHE_URL``) are hidden as well.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE|_URL|DSN",
        flags=re.IGNORECASE,
    )

    def is_active(self, request) -> bool:
        return True
