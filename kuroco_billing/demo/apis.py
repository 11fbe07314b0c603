"""The demo's two APIs and their endpoints: API 1 (cookie) and API 2 (dynamic token)."""

from __future__ import annotations

from django.core.management.color import no_style
from django.db import connection

from kuroco_billing.rcms_api import catalogue
from kuroco_billing.rcms_api.models import Api, Endpoint

from .output import SeedOutput
from .site import site_origin, site_url

COOKIE_API_ID = 1
TOKEN_API_ID = 2
LOCAL_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")

CHECKOUT_PATH = "stripe/checkout"
PORTAL_PATH = "stripe/portal"
PLANS_PATH = "stripe/plans"
CHANGE_PLAN_PATH = "stripe/change_plan"
CHECKOUT_RETURN_URLS = {
    "return_url": "{site}/demo/?checkout=success",
    "return_err_url": "{site}/demo/?checkout=cancel",
}

# (path, operation, parameters). "{site}" in a parameter is DEMO_SITE_URL. A parameter
# only fills a gap: what an administrator set on the endpoint is kept.
SHARED_ENDPOINTS = [
    ("login", "login_challenge", {}),
    ("logout", "logout", {}),
    ("profile", "profile", {}),
    # Its products come from the Stripe step, or from the person following the tutorial.
    (CHECKOUT_PATH, "checkout", CHECKOUT_RETURN_URLS),
    ("stripe/cancel", "cancel_order", {}),
    # Beyond Kuroco: the member manages the subscription (docs/api.md). The plans and
    # change_plan products come from the Stripe step, like the checkout's.
    ("stripe/cancel_at_period_end", "cancel_order", {"at_period_end": True}),
    ("stripe/resume", "resume", {}),
    (PORTAL_PATH, "portal", {"return_url": "{site}/demo/"}),
    (PLANS_PATH, "plans", {}),
    (CHANGE_PLAN_PATH, "change_plan", {}),
    ("stripe/subscription", "subscription", {}),
    ("stripe/invoices", "invoices", {}),
]
# The endpoints that offer the demo's plans (products set by the Stripe step).
PLAN_PATHS = (PLANS_PATH, CHANGE_PLAN_PATH)
TOKEN_ENDPOINTS = [*SHARED_ENDPOINTS, ("token", "token", {})]


def resolved(parameters: dict) -> dict:
    return {name: value.format(site=site_url()) if isinstance(value, str) else value
            for name, value in parameters.items()}


def seed_apis(out: SeedOutput) -> list[Api]:
    origins = "\n".join(dict.fromkeys([site_origin(), *LOCAL_ORIGINS]))
    apis = [
        ensure_api(out, COOKIE_API_ID, "Demo (cookie)", Api.Security.COOKIE,
                   "The demo page's API: the session cookie signs members in.",
                   origins, SHARED_ENDPOINTS),
        ensure_api(out, TOKEN_API_ID, "Demo (dynamic token)", Api.Security.DYNAMIC_TOKEN,
                   "Grant token → access and refresh tokens, for apps and SPAs.",
                   origins, TOKEN_ENDPOINTS),
    ]
    # Rows inserted with explicit ids leave PostgreSQL's sequence behind; the next
    # API an administrator adds would collide with id 1.
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Api]):
            cursor.execute(sql)
    return apis


def ensure_api(out: SeedOutput, pk: int, title: str, security: str, description: str,
               origins: str, endpoints: list) -> Api:
    api, created = Api.objects.update_or_create(
        pk=pk,
        defaults={
            "title": title, "security": security, "description": description,
            "cors_allowed_origins": origins, "cors_allow_credentials": True,
            "enabled": True,
        },
    )
    for path, operation, parameters in endpoints:
        ensure_endpoint(api, path, operation, resolved(parameters))
    paths = ", ".join(path for path, _, _ in endpoints)
    out.report(f"API #{api.pk} {title} ({paths})", created)
    return api


def ensure_endpoint(api: Api, path: str, operation: str, parameters: dict) -> Endpoint:
    endpoint, _ = Endpoint.objects.update_or_create(
        api=api, path=path,
        defaults={"operation": operation, "enabled": True,
                  "summary": catalogue.BY_NAME[operation].summary},
    )
    missing = {k: v for k, v in parameters.items() if k not in endpoint.parameters}
    if missing:
        endpoint.parameters = {**endpoint.parameters, **missing}
        endpoint.save(update_fields=["parameters"])
    return endpoint
