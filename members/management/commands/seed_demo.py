"""Seed the demo: accounts, groups, two APIs and, when Stripe is reachable, prices and a webhook.

Idempotent: run it any number of times and the database (and the Stripe account
or emulator) ends in the same state. ``make run`` runs it on every start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.color import no_style
from django.db import connection, transaction
from django.urls import reverse

from kuroco_billing.rcms_api import catalogue
from kuroco_billing.rcms_api.models import Api, Endpoint
from members.models import Member, MemberGroup
from payments import gateway
from payments.models import WEBHOOK_EVENTS, StripeSettings

# The emulator's fixed test keys (see docs/emulator.md). Repeated here on purpose:
# the app never imports stripe_emulator.
EMULATOR_SECRET_KEY = "sk_test_51KurocoEmulator0000000000000000000000"
EMULATOR_PUBLISHABLE_KEY = "pk_test_51KurocoEmulator0000000000000000000000"

COOKIE_API_ID = 1
TOKEN_API_ID = 2
LOCAL_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")

SHARED_ENDPOINTS = {
    "login": "login_challenge",
    "logout": "logout",
    "profile": "profile",
    "stripe/checkout": "checkout",
    "stripe/cancel": "cancel_order",
}
TOKEN_ENDPOINTS = {**SHARED_ENDPOINTS, "token": "token"}


@dataclass(frozen=True)
class Plan:
    group: str
    description: str
    lookup_key: str
    unit_amount: int  # JPY has no minor unit: 1000 is ¥1,000.


PLANS = (
    Plan("Basic members", "Members paying for the Basic plan.", "kuroco_demo_basic", 1000),
    Plan("Premium members", "Members paying for the Premium plan.", "kuroco_demo_premium", 3000),
)
CURRENCY = "jpy"
INTERVAL = "month"


def site_url() -> str:
    return settings.DEMO_SITE_URL.rstrip("/")


def webhook_url() -> str:
    return site_url() + reverse("payments:stripe-webhook")


def site_origin() -> str:
    parts = urlsplit(site_url())
    return f"{parts.scheme}://{parts.netloc}"


class Command(BaseCommand):
    help = (
        "Create the demo administrator, member, groups and APIs; with the Stripe "
        "emulator (STRIPE_API_BASE) or --stripe, also the prices and the webhook endpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        stripe = parser.add_mutually_exclusive_group()
        stripe.add_argument(
            "--stripe", action="store_true",
            help="Set up Stripe even without STRIPE_API_BASE (needs DEMO_STRIPE_SECRET_KEY "
                 "or a stored secret key).",
        )
        stripe.add_argument("--no-stripe", action="store_true", help="Skip the Stripe part.")

    def handle(self, *args, stripe: bool = False, no_stripe: bool = False, **options) -> None:
        with transaction.atomic():
            self.seed_accounts()
            groups = self.seed_groups()
            apis = self.seed_apis()

        if no_stripe or not (stripe or settings.STRIPE_API_BASE):
            self.stdout.write("Stripe: skipped (STRIPE_API_BASE is not set; pass --stripe).")
            return
        try:
            self.seed_stripe(groups, apis)
        except gateway.StripeError as exc:
            where = settings.STRIPE_API_BASE or "Stripe"
            self.stderr.write(self.style.WARNING(
                f"WARNING: Stripe part skipped ({where}): {exc.message} "
                "Everything else is seeded; run seed_demo again once Stripe answers."
            ))

    # --- Local records -------------------------------------------------------------

    def report(self, what: str, created: bool) -> None:
        self.stdout.write(f"{what}: {'created' if created else 'up to date'}")

    def seed_accounts(self) -> None:
        self.ensure_member(
            settings.DEMO_ADMIN_EMAIL, settings.DEMO_ADMIN_PASSWORD, "Administrator",
            is_staff=True, is_superuser=True,
        )
        self.ensure_member(
            settings.DEMO_MEMBER_EMAIL, settings.DEMO_MEMBER_PASSWORD, "Demo Member",
            is_staff=False, is_superuser=False,
        )

    def ensure_member(self, email: str, password: str, name: str, **flags: bool) -> Member:
        member = Member.objects.filter(email__iexact=email).first()
        created = member is None
        if member is None:
            member = Member(email=Member.objects.normalize_email(email).lower(), name=name)
        fields = {"is_active": True, **flags}
        for field, value in fields.items():
            setattr(member, field, value)
        # Only re-hash when it differs, so the printed credentials always work.
        if created or not member.check_password(password):
            member.set_password(password)
        member.save()
        role = "Administrator" if flags.get("is_staff") else "Member"
        self.report(f"{role} {member.email}", created)
        return member

    def seed_groups(self) -> dict[str, MemberGroup]:
        groups = {}
        for plan in PLANS:
            group, created = MemberGroup.objects.get_or_create(
                name=plan.group, defaults={"description": plan.description}
            )
            groups[plan.lookup_key] = group
            self.report(f"Group {group.name!r}", created)
        return groups

    def seed_apis(self) -> list[Api]:
        origins = "\n".join(dict.fromkeys([site_origin(), *LOCAL_ORIGINS]))
        apis = [
            self.ensure_api(COOKIE_API_ID, "Demo (cookie)", Api.Security.COOKIE,
                            "The demo page's API: the session cookie signs members in.",
                            origins, SHARED_ENDPOINTS),
            self.ensure_api(TOKEN_API_ID, "Demo (dynamic token)", Api.Security.DYNAMIC_TOKEN,
                            "Grant token → access and refresh tokens, for apps and SPAs.",
                            origins, TOKEN_ENDPOINTS),
        ]
        # Rows inserted with explicit ids leave PostgreSQL's sequence behind; the next
        # API an administrator adds would collide with id 1.
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Api]):
                cursor.execute(sql)
        return apis

    def ensure_api(self, pk: int, title: str, security: str, description: str,
                   origins: str, endpoints: dict[str, str]) -> Api:
        api, created = Api.objects.update_or_create(
            pk=pk,
            defaults={
                "title": title, "security": security, "description": description,
                "cors_allowed_origins": origins, "cors_allow_credentials": True,
                "enabled": True,
            },
        )
        for path, operation in endpoints.items():
            Endpoint.objects.update_or_create(
                api=api, path=path,
                defaults={"operation": operation, "enabled": True,
                          "summary": catalogue.BY_NAME[operation].summary},
            )
        self.report(f"API #{api.pk} {title} ({', '.join(endpoints)})", created)
        return api

    # --- Stripe ----------------------------------------------------------------------

    def stripe_keys(self, config: StripeSettings) -> tuple[str, str]:
        secret = os.environ.get("DEMO_STRIPE_SECRET_KEY", "")
        publishable = os.environ.get("DEMO_STRIPE_PUBLISHABLE_KEY", "")
        if settings.STRIPE_API_BASE:
            return secret or EMULATOR_SECRET_KEY, publishable or EMULATOR_PUBLISHABLE_KEY
        secret = secret or config.secret_key
        if not secret:
            raise CommandError(
                "--stripe needs a test-mode key: set DEMO_STRIPE_SECRET_KEY and "
                "DEMO_STRIPE_PUBLISHABLE_KEY, or save them on the Stripe screen first."
            )
        if "_live_" in secret:
            raise CommandError("seed_demo refuses live-mode keys: use a test-mode key (sk_test_…).")
        return secret, publishable or config.publishable_key

    def seed_stripe(self, groups: dict[str, MemberGroup], apis: list[Api]) -> None:
        config = StripeSettings.load()
        previous_key = config.secret_key
        config.secret_key, config.publishable_key = self.stripe_keys(config)
        # Nothing is saved until every Stripe call has gone through.
        prices = self.ensure_prices(config)
        self.ensure_webhook_endpoint(config, keep_secret=previous_key == config.secret_key)

        with transaction.atomic():
            config.enabled = True
            config.save()
            for lookup_key, group in groups.items():
                group.stripe_price_id = prices[lookup_key]
                group.save(update_fields=["stripe_price_id"])
                self.stdout.write(f"Group {group.name!r} ← price {prices[lookup_key]}")
            basic = prices[PLANS[0].lookup_key]
            for api in apis:
                endpoint = api.endpoints.get(path="stripe/checkout")
                endpoint.parameters = {
                    **endpoint.parameters,
                    "products_list": [basic],
                    "return_url": f"{site_url()}/demo/?checkout=success",
                    "return_err_url": f"{site_url()}/demo/?checkout=cancel",
                }
                endpoint.save(update_fields=["parameters"])
                self.stdout.write(f"{endpoint.url_path} → checkout for {basic}")
        secret = "stored" if config.webhook_secret else "NOT set"
        self.stdout.write(
            f"Stripe settings: enabled, {config.mode_label} keys, webhook secret {secret}."
        )

    def ensure_prices(self, config: StripeSettings) -> dict[str, str]:
        keys = [plan.lookup_key for plan in PLANS]
        found = {
            price["lookup_key"]: price["id"]
            for price in gateway.list_prices(lookup_keys=keys, config=config)
            if price.get("type") == "recurring"
            and (price.get("recurring") or {}).get("interval") == INTERVAL
        }
        for plan in PLANS:
            created = plan.lookup_key not in found
            if created:
                price = gateway.create_recurring_price(
                    product_name=plan.group.removesuffix(" members"),
                    unit_amount=plan.unit_amount, currency=CURRENCY, interval=INTERVAL,
                    lookup_key=plan.lookup_key, metadata={"kuroco_demo": plan.lookup_key},
                    config=config,
                )
                found[plan.lookup_key] = price["id"]
            self.report(
                f"Price {found[plan.lookup_key]} ({plan.unit_amount} {CURRENCY.upper()}"
                f"/{INTERVAL})", created,
            )
        return found

    def ensure_webhook_endpoint(self, config: StripeSettings, *, keep_secret: bool) -> None:
        """One endpoint for this site's webhook URL, its secret in ``config``.

        Stripe shows an endpoint's secret only when it is created, so an existing
        endpoint is kept only while the stored secret is (as far as we can tell)
        its own: same account key, and it is the only endpoint for the URL.
        """
        url = webhook_url()
        endpoints = [e for e in gateway.list_webhook_endpoints(config=config) if e["url"] == url]
        if keep_secret and config.webhook_secret and len(endpoints) == 1:
            endpoint = endpoints[0]
            events = set(endpoint.get("enabled_events") or [])
            if endpoint.get("status") == "enabled" and (
                "*" in events or set(WEBHOOK_EVENTS) <= events
            ):
                self.report(f"Webhook endpoint {endpoint['id']} → {url}", created=False)
                return
        for stale in endpoints:
            gateway.delete_webhook_endpoint(stale["id"], config=config)
            self.stdout.write(f"Webhook endpoint {stale['id']}: deleted (secret unknown)")
        try:
            endpoint = gateway.create_webhook_endpoint(
                url=url, events=list(WEBHOOK_EVENTS),
                description="Kuroco Billing demo (manage.py seed_demo)", config=config,
            )
        except gateway.StripeInvalidRequest as exc:
            # Real Stripe refuses URLs it cannot reach, such as http://127.0.0.1.
            self.stderr.write(self.style.WARNING(
                f"WARNING: Stripe refused the webhook URL {url}: {exc.message} "
                "Forward events with `stripe listen` instead (see README) and paste "
                "its whsec_ secret on the Stripe screen."
            ))
            return
        config.webhook_secret = endpoint["secret"]
        config.previous_webhook_secret = ""
        config.previous_webhook_secret_expires_at = None
        self.report(f"Webhook endpoint {endpoint['id']} → {url}", created=True)
