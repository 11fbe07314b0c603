"""X-Forwarded-Proto is believed only behind a trusted proxy (TRUSTED_PROXY_COUNT > 0).

Otherwise any client could claim HTTPS and be served as if it used it (secure
cookies, no HTTPS redirect) over plain HTTP.
"""

from __future__ import annotations

from .test_settings import PRODUCTION_ENV, manage

# A plain-HTTP request claiming HTTPS, as production serves it (SSL redirect on).
PROBE = (
    "from django.test import Client; "
    "r = Client().get('/demo/', HTTP_X_FORWARDED_PROTO='https'); "
    "print('STATUS', r.status_code, r.get('Location', ''))"
)
ENV = {**PRODUCTION_ENV, "ALLOWED_HOSTS": "testserver", "DATABASE_URL": "sqlite://:memory:"}


def test_without_a_trusted_proxy_the_header_is_ignored():
    result = manage("shell", "-c", PROBE, **ENV, TRUSTED_PROXY_COUNT="0")
    assert result.returncode == 0, result.stderr
    assert "STATUS 301 https://testserver/demo/" in result.stdout


def test_behind_a_trusted_proxy_the_header_is_believed():
    result = manage("shell", "-c", PROBE, **ENV, TRUSTED_PROXY_COUNT="1")
    assert result.returncode == 0, result.stderr
    assert "STATUS 200" in result.stdout
