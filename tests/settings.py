"""Settings for the test suite: production settings with test-only secrets.

Tests run with DEBUG off, as production does; only what a laptop or CI cannot
provide (a secret key, an encryption key, HTTPS) is filled in here.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
# A fixed Fernet key, so encrypted values in a test are reproducible.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "uKX7S8W3uOcdSt6f5Tq1wXw0p3WJ2zFp0nN9f2m1Ykk=")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")

from kuroco_billing.settings import *  # noqa: F403

# Plain storage: the manifest storage needs collectstatic, which tests don't run.
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# Fast hashing: tests create many members.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Every test checks the rule "no Stripe call while a transaction is open".
STRIPE_FORBID_CALLS_IN_TRANSACTION = os.environ.get("KB_STRIPE_GUARD", "1") == "1"
