"""The demo's Stripe part: keys, one monthly price per plan, the webhook endpoint, and the
groups and checkout endpoints that sell those prices. Skipped by ``seed_demo --tutorial``."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction

from kuroco_billing.rcms_api.models import Api
from members.models import MemberGroup
from payments import gateway
from payments.models import WEBHOOK_EVENTS, StripeSettings
from payments.prices import price_details

from .accounts import PLANS
from .apis import CHECKOUT_PATH, CHECKOUT_RETURN_URLS, PLAN_PATHS, resolved
from .output import SeedOutput
from .site import webhook_url

# The emulator's fixed test keys (see docs/emulator.md). Repeated here on purpose:
# the app never imports stripe_emulator.
EMULATOR_SECRET_KEY = "sk_test_51KurocoEmulator0000000000000000000000"
EMULATOR_PUBLISHABLE_KEY = "pk_test_51KurocoEmulator0000000000000000000000"

CURRENCY = "jpy"
INTERVAL = "month"


def stripe_keys(config: StripeSettings) -> tuple[str, str]:
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


def seed_stripe(out: SeedOutput, groups: dict[str, MemberGroup], apis: list[Api]) -> None:
    config = StripeSettings.load()
    previous_key = config.secret_key
    config.secret_key, config.publishable_key = stripe_keys(config)
    # Nothing is saved until every Stripe call has gone through.
    prices = ensure_prices(out, config)
    details = {key: gateway.retrieve_price(price_id, config=config, with_product=True)
               for key, price_id in prices.items()}
    allow_plan_switching(out, config, list(details.values()))
    ensure_webhook_endpoint(out, config, keep_secret=previous_key == config.secret_key)

    with transaction.atomic():
        config.enabled = True
        config.save()
        for lookup_key, group in groups.items():
            group.stripe_price_id = prices[lookup_key]
            group.set_price_details(price_details(details[lookup_key]))
            group.save()
            out.line(f"Group {group.name!r} ← price {prices[lookup_key]}")
        basic = prices[PLANS[0].lookup_key]
        for api in apis:
            endpoint = api.endpoints.get(path=CHECKOUT_PATH)
            endpoint.parameters = {
                **endpoint.parameters,
                "products_list": [basic],
                **resolved(CHECKOUT_RETURN_URLS),
            }
            endpoint.save(update_fields=["parameters"])
            out.line(f"{endpoint.url_path} → checkout for {basic}")
            offered = [prices[plan.lookup_key] for plan in PLANS]
            for path in PLAN_PATHS:
                endpoint = api.endpoints.get(path=path)
                endpoint.parameters = {**endpoint.parameters, "products_list": offered}
                endpoint.save(update_fields=["parameters"])
                out.line(f"{endpoint.url_path} → {', '.join(offered)}")
    secret = "stored" if config.webhook_secret else "NOT set"
    out.line(f"Stripe settings: enabled, {config.mode_label} keys, webhook secret {secret}.")


def ensure_prices(out: SeedOutput, config: StripeSettings) -> dict[str, str]:
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
        out.report(
            f"Price {found[plan.lookup_key]} ({plan.unit_amount} {CURRENCY.upper()}"
            f"/{INTERVAL})", created,
        )
    return found


def allow_plan_switching(out: SeedOutput, config: StripeSettings, prices: list[dict]) -> None:
    """The default Billing Portal configuration lets members switch between the plans."""
    portal = gateway.default_portal_configuration(config=config)
    if portal is None:
        out.warn("Stripe has no default Billing Portal configuration: plan switching in "
                 "the portal is left off.")
        return
    products: dict[str, list[str]] = {}
    for price in prices:
        products.setdefault(price["product"]["id"], []).append(price["id"])
    gateway.update_portal_configuration(portal["id"], {"features": {"subscription_update": {
        "enabled": True, "default_allowed_updates": ["price"],
        "proration_behavior": "create_prorations",
        "products": [{"product": product, "prices": ids} for product, ids in products.items()],
    }}}, config=config)
    out.line(f"Billing Portal {portal['id']}: members may switch between the plans")


def ensure_webhook_endpoint(out: SeedOutput, config: StripeSettings, *,
                            keep_secret: bool) -> None:
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
            out.report(f"Webhook endpoint {endpoint['id']} → {url}", created=False)
            return
    for stale in endpoints:
        gateway.delete_webhook_endpoint(stale["id"], config=config)
        out.line(f"Webhook endpoint {stale['id']}: deleted (secret unknown)")
    try:
        endpoint = gateway.create_webhook_endpoint(
            url=url, events=list(WEBHOOK_EVENTS),
            description="Kuroco Billing demo (manage.py seed_demo)", config=config,
        )
    except gateway.StripeInvalidRequest as exc:
        # Real Stripe refuses URLs it cannot reach, such as http://127.0.0.1.
        out.warn(
            f"Stripe refused the webhook URL {url}: {exc.message} "
            "Forward events with `stripe listen` instead (see README) and paste "
            "its whsec_ secret on the Stripe screen."
        )
        return
    config.webhook_secret = endpoint["secret"]
    config.previous_webhook_secret = ""
    config.previous_webhook_secret_expires_at = None
    out.report(f"Webhook endpoint {endpoint['id']} → {url}", created=True)
