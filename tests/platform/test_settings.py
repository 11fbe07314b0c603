"""Production settings: refuse to start half-configured, pass check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "SECRET_KEY": "p" * 20 + "-production-secret-key-of-more-than-fifty-characters-xyz",
    "ALLOWED_HOSTS": "billing.example.com",
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "DEBUG": "0",
}


def manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    """manage.py in a clean environment: only PATH/HOME plus what the test gives.

    A variable set to "" still wins over a developer's .env (read with
    overwrite=False), which is how the tests below leave a setting out.
    """
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_debug_in_production():
    # The same check does fail when something is wrong, so the clean result means something.
    env = {**PRODUCTION_ENV, "DEBUG": "1"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


def test_settings_refuse_to_start_without_secret_key_when_debug_is_off():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_settings_refuse_to_start_without_field_encryption_key_when_debug_is_off():
    env = {**PRODUCTION_ENV, "FIELD_ENCRYPTION_KEY": ""}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr


def test_the_webhook_inbox_refuses_to_start_on_sqlite():
    env = {**PRODUCTION_ENV, "DATABASE_URL": "sqlite:////tmp/kb-inbox-check.sqlite3",
           "STRIPE_WEBHOOK_QUEUE": "true"}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "STRIPE_WEBHOOK_QUEUE needs PostgreSQL" in result.stderr
    assert manage("check", **{**env, "STRIPE_WEBHOOK_QUEUE": "false"}).returncode == 0


def test_env_example_names_every_variable_the_settings_read():
    """.env.example promises "every variable the settings read": the settings' env reads
    (and the proxy variables the Stripe client reads) each appear in it."""
    import re

    settings_source = (ROOT / "kuroco_billing" / "settings.py").read_text()
    read = set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', settings_source))
    assert len(read) > 30  # the pattern still finds them
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^# ?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert read - documented == set()
    assert {"HTTPS_PROXY", "NO_PROXY"} <= documented
