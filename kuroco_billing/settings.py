"""Settings for Kuroco Billing.

Everything that differs between machines comes from the environment or an
optional ``.env`` file (see ``.env.example``), read with django-environ.
"""

import os
import tempfile
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)

# A development key is only acceptable while DEBUG is on: production must fail
# loudly at start-up rather than sign sessions with a guessable key.
_DEV_SECRET_KEY = "django-insecure-kuroco-billing-development-only"
SECRET_KEY: str = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment or .env, "
            "or set DEBUG=true for local development (see .env.example)."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin with Kuroco Billing's own site as admin.site.
    "kuroco_billing.admin_site.KurocoAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Before axes: its reset commands, folding emails as this site keys lockouts.
    "kuroco_billing.lockout_commands",
    "axes",
    "members",
    "payments",
    "kuroco_billing.rcms_api",
    "kuroco_billing.demo",
]

MIDDLEWARE = [
    # First, so that no HTML error page from any layer reaches the API or the webhook.
    "kuroco_billing.rcms_api.failures.JsonFailuresMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Stripe's webhook needs none of what follows.
    "payments.middleware.WebhookFastPath",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that lockouts see the authenticated request.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kuroco_billing.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "kuroco_billing.wsgi.application"

# A statement is prepared on its connection after this many runs (psycopg's default).
PREPARE_THRESHOLD = 5
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
# Persistent connections save a connect per request under gunicorn; health
# checks replace a connection the database dropped. 0 (the default) = per request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL plans each statement the app sends again and again (routing, the session,
# a checkout's locks, the webhook's store) once per connection and keeps the plan
# (psycopg's prepared statements, after PREPARE_THRESHOLD runs; server-side binding).
# Turn off behind PgBouncer in transaction mode before 1.21 (max_prepared_statements).
DATABASE_PREPARED_STATEMENTS: bool = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASE_PREPARED_STATEMENTS and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=PREPARE_THRESHOLD)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several threads (the test server, the emulator's webhooks) write at once.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    # BEGIN IMMEDIATE: a transaction takes the write lock up front, so concurrent
    # writers queue (busy timeout) instead of failing "database is locked" when a
    # reader upgrades; it makes select_for_update sections serial on SQLite too.
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    # Tests: a per-process file, not shared-cache memory, whose table locks fail at
    # once instead of waiting (live_server + webhook threads write concurrently).
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(Path(tempfile.gettempdir()) / f"kuroco_billing_test_{os.getpid()}.sqlite3")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared by every worker process without another service. The app keeps nothing it
# needs here; rate limits use their own table, or RATE_LIMIT_CACHE_URL's cache.
CACHES = {
    "default": env.cache(
        "CACHE_URL", default="dbcache://kuroco_billing_cache"
    ),
}

AUTH_USER_MODEL = "members.Member"
AUTHENTICATION_BACKENDS = [
    "members.backends.SignInThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
# The site's time zone: every date on the admin pages is shown in it.
TIME_ZONE: str = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# One date format on every page (the locale's own formats would mix in "Dec. 28, 2026").
FORMAT_MODULE_PATH = ["kuroco_billing.formats"]
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i T"

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic writes and WhiteNoise serves from.
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security headers (manage.py check --deploy is clean with DEBUG off) ----
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe the app over plain HTTP; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE: bool = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE: bool = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# X-Forwarded-Proto says "https" only when a proxy we trust set it; without one
# (TRUSTED_PROXY_COUNT=0, the AXES block below) any client could send it.
if env.int("TRUSTED_PROXY_COUNT", default=0) > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, read with SQL written once (every signed-in request);
# docs/performance.md, "Scaling", for a cached store instead.
SESSION_ENGINE = env.str("SESSION_ENGINE", default="kuroco_billing.sessions")
SESSION_COOKIE_SAMESITE = env.str("SESSION_COOKIE_SAMESITE", default="Lax")
X_FRAME_OPTIONS = "DENY"
# Debug pages and error reports hide secrets with DEBUG on too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "kuroco_billing.debug.AlwaysSafeExceptionReporterFilter"
# The API answers a too-big body with 413 itself; Django's own limit guards forms.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Secrets at rest ---------------------------------------------------------
# Fernet keys, comma separated: the first encrypts, all decrypt (key rotation).
# In development a key is derived from SECRET_KEY so `make run` needs nothing.
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is not set. Generate one with "
        "`python -c \"from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())\"` (see .env.example)."
    )

# --- Stripe -------------------------------------------------------------------
# Unset: real Stripe. Set: the emulator (or stripe-mock) at that address.
STRIPE_API_BASE: str = env.str("STRIPE_API_BASE", default="")
STRIPE_TIMEOUT_SECONDS: float = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
STRIPE_MAX_NETWORK_RETRIES: int = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
# A Stripe call inside a database transaction raises (tests turn this on).
STRIPE_FORBID_CALLS_IN_TRANSACTION = False
STRIPE_WEBHOOK_MAX_BODY_BYTES: int = env.int("STRIPE_WEBHOOK_MAX_BODY_BYTES", default=512 * 1024)
# The webhook inbox (docs/billing.md): store each event and answer at once, then
# apply them in batches, for bursts. PostgreSQL only. Each app process drains in a
# thread unless STRIPE_WEBHOOK_DRAIN_IN_WORKERS is off (then run drain_webhooks).
STRIPE_WEBHOOK_QUEUE: bool = env.bool("STRIPE_WEBHOOK_QUEUE", default=False)
STRIPE_WEBHOOK_DRAIN_IN_WORKERS: bool = env.bool("STRIPE_WEBHOOK_DRAIN_IN_WORKERS", default=True)
# How long a drainer lets a batch build after a delivery, and a batch's size.
STRIPE_WEBHOOK_BATCH_DELAY_MS: int = env.int("STRIPE_WEBHOOK_BATCH_DELAY_MS", default=50)
STRIPE_WEBHOOK_BATCH_SIZE: int = env.int("STRIPE_WEBHOOK_BATCH_SIZE", default=500)
# An idle drainer thread drains this often anyway: the failed events due for a retry.
STRIPE_WEBHOOK_IDLE_ROUND_SECONDS: float = env.float("STRIPE_WEBHOOK_IDLE_ROUND_SECONDS",
                                                      default=60.0)
if STRIPE_WEBHOOK_QUEUE and not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("STRIPE_WEBHOOK_QUEUE needs PostgreSQL (FOR UPDATE SKIP LOCKED).")

# --- The front-end API (/rcms-api/) --------------------------------------------
RCMS_API_MAX_BODY_BYTES: int = env.int("RCMS_API_MAX_BODY_BYTES", default=64 * 1024)
RCMS_GRANT_TOKEN_SECONDS: int = env.int("RCMS_GRANT_TOKEN_SECONDS", default=300)
# Rate-limit counters: in their database table by default; RATE_LIMIT_CACHE_URL moves
# them to a cache with an atomic incr (Redis, Memcached) when several nodes share the
# database (docs/performance.md, Scaling). RCMS_RATE_LIMIT_CACHE is the cache alias.
RCMS_RATE_LIMIT_CACHE = ""
if env.str("RATE_LIMIT_CACHE_URL", default=""):
    CACHES["ratelimit"] = env.cache("RATE_LIMIT_CACHE_URL")
    RCMS_RATE_LIMIT_CACHE = "ratelimit"

# --- Sign-in throttling (django-axes) ------------------------------------------
# See docs/operations.md, "Sign-in lockouts".
AXES_FAILURE_LIMIT: int = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME: float = env.float("AXES_COOLOFF_HOURS", default=0.25)  # hours
# One account from one address: an attacker's failures never lock the owner
# out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The lockout runs from the failure that reached the limit; attempts during it
# are refused without being counted, so they cannot prolong it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
# Failures one address may make across all accounts within the cool-off
# (0 = no cap). It blocks only that address, never an account.
SIGN_IN_ADDRESS_FAILURE_LIMIT: int = env.int("SIGN_IN_ADDRESS_FAILURE_LIMIT", default=20)
# members/lockout_admin.py registers axes' models with a "Clear lockout" action.
AXES_ENABLE_ADMIN = False
AXES_USERNAME_FORM_FIELD = "username"
# Sign-in matches emails case-insensitively: so do the failure counts.
AXES_USERNAME_CALLABLE = "members.lockouts.account_of"
AXES_VERBOSE = False
# The admin's lockout page in the site's look, with the time left; the API keeps its 429 JSON.
AXES_LOCKOUT_CALLABLE = "members.lockout_admin.lockout_response"
# Behind N reverse proxies (load balancer, ingress), the client address is taken
# from X-Forwarded-For; 0 means REMOTE_ADDR is the client. Used by lockouts and
# rate limits alike.
TRUSTED_PROXY_COUNT: int = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "kuroco_billing.clients.client_ip"
AXES_ENABLED: bool = env.bool("AXES_ENABLED", default=True)

# --- Demo (seed_demo) ----------------------------------------------------------
DEMO_ADMIN_EMAIL: str = env.str("DEMO_ADMIN_EMAIL", default="admin@example.com")
DEMO_ADMIN_PASSWORD: str = env.str("DEMO_ADMIN_PASSWORD", default="admin-pass-123")
DEMO_MEMBER_EMAIL: str = env.str("DEMO_MEMBER_EMAIL", default="member@example.com")
DEMO_MEMBER_PASSWORD: str = env.str("DEMO_MEMBER_PASSWORD", default="member-pass-123")
DEMO_SITE_URL: str = env.str("DEMO_SITE_URL", default="http://127.0.0.1:8000")
# The admin's "View site": the members' front end (the demo page under `make run`).
ADMIN_SITE_URL: str = env.str("ADMIN_SITE_URL", default="/demo/")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kuroco Billing API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# One line per event, never a secret: see payments.logging for the filter.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "kuroco_billing.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"()": "kuroco_billing.logging.RedactingFormatter",
                             "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # The SDK logs every request URL at INFO; payments.stripe already logs one
        # line per call, without query strings (which may carry an email address).
        "stripe": {"level": "WARNING"},
    },
}
