"""Checks the admin runs on the Stripe settings page and when a group's price is saved.

They ask Stripe, so the admin runs them outside its transaction (``payments.admin``,
``members.admin``); the Stripe screen's status panel shows the stored results.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from members.models import PRICE_DETAIL_FIELDS, MemberGroup

from . import gateway
from .models import WEBHOOK_EVENTS, RefusedDelivery, SetupCheckResult, StripeSettings
from .prices import price_details, price_problem

ONE_TIME_MESSAGE = "One-time purchases are not supported: choose a recurring price."


@dataclass
class CheckResult:
    level: Literal["success", "warning", "error"]
    message: str
    item: str = "Setup"  # what was checked: one line of the Stripe screen's status panel


KEY_ITEM = "Secret key"
WEBHOOK_ITEM = "Webhook endpoint"
GROUPS_ITEM = "Member groups"
PORTAL_ITEM = "Billing Portal"
# The start of services.signatures' refusal when no signature fits a stored secret.
NO_SIGNATURE_MATCHES = "No signature matches"
RECENT_REFUSALS = datetime.timedelta(hours=24)


SETUP_PROBLEM_TEXT = {
    "inactive": "is not active",
    "product_archived": "belongs to an archived product (Stripe does not sell it)",
    "one_time": "is a one-time price (only recurring prices can be sold)",
}


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def check_setup(stripe_settings: StripeSettings, webhook_url: str) -> list[CheckResult]:
    """What works and what doesn't, never raising."""
    key = check_key(stripe_settings)
    if key.level == "error":
        return [key]
    results: list[CheckResult] = [key]

    try:
        endpoints = gateway.list_webhook_endpoints(config=stripe_settings)
    except gateway.StripeError as exc:
        results.append(CheckResult("error", f"Webhook endpoints could not be read: {exc.message}",
                                   WEBHOOK_ITEM))
    else:
        results.append(_with_recent_refusals(
            _webhook_check(endpoints, webhook_url)))

    groups = list(MemberGroup.objects.exclude(stripe_price_id=None).order_by("name"))
    if not groups:
        results.append(CheckResult("warning", "No member group is linked to a Stripe price.",
                                   GROUPS_ITEM))
    for group in groups:
        try:
            price = gateway.retrieve_price(group.stripe_price_id, config=stripe_settings,
                                           with_product=True)
        except gateway.StripeInvalidRequest as exc:
            message = (f"Group {group.name}: price {group.stripe_price_id} does not exist."
                       if exc.is_missing else f"Group {group.name}: {exc.message}")
            results.append(CheckResult("error", message, f"Group {group.name}"))
            continue
        except gateway.StripeError as exc:
            results.append(CheckResult("error", f"Group {group.name}: {exc.message}",
                                       f"Group {group.name}"))
            continue
        problem = price_problem(price)
        if problem:
            results.append(CheckResult(
                "error",
                f"Group {group.name}: price {group.stripe_price_id} "
                f"{SETUP_PROBLEM_TEXT[problem]}.", f"Group {group.name}"))
        else:
            _store_price_details(group, price)
            results.append(CheckResult(
                "success",
                f"Group {group.name}: price {group.stripe_price_id} is active and recurring.",
                f"Group {group.name}",
            ))
    portal = portal_check(stripe_settings)
    if portal is not None:
        results.append(portal)
    return results


def plan_change_prices() -> dict[str, list[str]]:
    """``{price: [endpoint URL paths]}`` of the enabled change_plan endpoints' products."""
    from kuroco_billing.rcms_api.models import Endpoint

    offered: dict[str, list[str]] = {}
    for endpoint in Endpoint.objects.filter(operation="change_plan", enabled=True,
                                            api__enabled=True).select_related("api"):
        for price in (endpoint.parameters or {}).get("products_list") or []:
            offered.setdefault(str(price), []).append(endpoint.url_path)
    return offered


def portal_check(stripe_settings: StripeSettings) -> CheckResult | None:
    """Whether the default Billing Portal configuration allows the plans change_plan offers.

    None when no change_plan endpoint offers any. A price the portal does not allow
    still works through change_plan; only the portal's own Switch plan leaves it out.
    """
    offered = plan_change_prices()
    if not offered:
        return None
    try:
        portal = gateway.default_portal_configuration(config=stripe_settings)
    except gateway.StripeError as exc:
        return CheckResult("error", f"The Billing Portal configuration could not be read: "
                                    f"{exc.message}", PORTAL_ITEM)
    if portal is None:
        return CheckResult("error", "Stripe has no default Billing Portal configuration.",
                           PORTAL_ITEM)
    update = (portal.get("features") or {}).get("subscription_update") or {}
    if update.get("enabled") and "products" not in update:
        # Optional in Stripe's schema (its own example leaves it out): unknown, not refused.
        return CheckResult(
            "warning",
            f"The Billing Portal ({portal.get('id')}) allows plan switching, but Stripe did "
            f"not say to which products: check that it offers {', '.join(offered)} "
            "(Stripe: Settings → Billing → Customer portal).",
            PORTAL_ITEM,
        )
    allowed = {str(price) for product in (update.get("products") or [])
               for price in (product.get("prices") or [])} if update.get("enabled") else set()
    missing = [price for price in offered if price not in allowed]  # in the endpoints' order
    if missing:
        where = sorted({path for price in missing for path in offered[price]})
        return CheckResult(
            "warning",
            f"The Billing Portal ({portal.get('id')}) does not let members switch to "
            f"{', '.join(missing)}, offered by {', '.join(where)}: allow these products "
            "in the portal's plan switching (Stripe: Settings → Billing → Customer portal).",
            PORTAL_ITEM,
        )
    return CheckResult("success", f"The Billing Portal ({portal.get('id')}) allows switching "
                                  "between the plans change_plan offers.", PORTAL_ITEM)


def _store_price_details(group: MemberGroup, price: dict) -> None:
    group.set_price_details(price_details(price))
    group.save(update_fields=PRICE_DETAIL_FIELDS)


def check_key(stripe_settings: StripeSettings) -> CheckResult:
    """Whether Stripe accepts the secret key; never raises."""
    if not stripe_settings.secret_key:
        return CheckResult("error", "No secret key is set.", KEY_ITEM)
    try:
        account = gateway.retrieve_account(config=stripe_settings)
    except gateway.StripeError as exc:
        return CheckResult("error", f"The secret key does not work: {exc.message}", KEY_ITEM)
    return CheckResult("success", f"The secret key works (account {account.get('id')}).",
                       KEY_ITEM)


@sensitive_variables()
def refusal_to_enable(secret_key: str) -> str | None:
    """Why Stripe may not be turned on with ``secret_key``, or None when Stripe accepts it."""
    result = check_key(StripeSettings(secret_key=secret_key))
    if result.level != "error":
        return None
    return (f"Stripe was not enabled and nothing was saved. {result.message} "
            "For safety, a pasted secret is never sent back to the browser: "
            "paste the keys again once they work.")


def _listens(endpoint: dict) -> bool:
    events = set(endpoint.get("enabled_events") or [])
    return "*" in events or set(WEBHOOK_EVENTS) <= events


def _missing_events(endpoint: dict) -> str:
    return ", ".join(sorted(set(WEBHOOK_EVENTS) - set(endpoint.get("enabled_events") or [])))


def _webhook_check(endpoints: list[dict], webhook_url: str) -> CheckResult:
    matching = [e for e in endpoints if _same_url(e.get("url") or "", webhook_url)]
    if not matching:
        return CheckResult("error", f"No Stripe webhook endpoint sends to {webhook_url}.",
                           WEBHOOK_ITEM)
    sending = sorted((e for e in matching if e.get("status", "enabled") == "enabled"),
                     key=lambda e: (e.get("created") or 0, e.get("id") or ""))
    if not sending:
        return CheckResult("error", f"The webhook endpoint for {webhook_url} is disabled.",
                           WEBHOOK_ITEM)
    if len(sending) > 1:
        return _several_endpoints(sending, webhook_url)
    [endpoint] = sending
    if not _listens(endpoint):
        return CheckResult("error", f"The webhook endpoint for {webhook_url} does not send: "
                                    f"{_missing_events(endpoint)}.", WEBHOOK_ITEM)
    return CheckResult("success", f"A webhook endpoint sends the subscription events to "
                                  f"{webhook_url}.", WEBHOOK_ITEM)


def _several_endpoints(sending: list[dict], webhook_url: str) -> CheckResult:
    """Stripe signs each endpoint's deliveries with its own secret: only one can fit.

    Which one cannot be read through Stripe's API (it shows a secret only when the
    endpoint is created), and the app asks nothing of Stripe but its API.
    """
    ids = [e["id"] for e in sending]
    return CheckResult(
        "warning",
        f"{len(ids)} webhook endpoints send to {webhook_url}: {', '.join(ids)}. Which one "
        "the stored signing secret fits cannot be told: Stripe does not show an endpoint's "
        "signing secret after it is created. Deliveries from the others are refused: keep "
        "one endpoint for this address (disable or delete the others in Stripe's dashboard).",
        WEBHOOK_ITEM)


def _with_recent_refusals(result: CheckResult) -> CheckResult:
    """A webhook that looks right, while deliveries fail their signature, is not right."""
    since = timezone.now() - RECENT_REFUSALS
    refused = RefusedDelivery.objects.filter(
        minute__gte=since, reason__startswith=NO_SIGNATURE_MATCHES,
    ).aggregate(n=Sum("count"))["n"]
    if not refused or result.level != "success":
        return result
    return CheckResult(
        "warning",
        f"{result.message} But {refused} deliver{'y' if refused == 1 else 'ies'} in the last "
        "24 hours had a signature that fits no stored secret: another endpoint may send to "
        "this address, or the secret was rolled in Stripe but not here (see Refused webhook "
        "deliveries).", WEBHOOK_ITEM)


# --- The status panel ------------------------------------------------------------

def store_results(results: list[CheckResult], now=None) -> None:
    """Replace the stored results by ``results``, in one short transaction after the calls."""
    now = now or timezone.now()
    items: list[str] = []
    for result in results:
        item, n = result.item, 2
        while item in items:  # two results about the same thing keep both lines
            item, n = f"{result.item} ({n})", n + 1
        items.append(item)
    with transaction.atomic():
        SetupCheckResult.objects.exclude(item__in=items).delete()
        for position, (item, result) in enumerate(zip(items, results, strict=True)):
            SetupCheckResult.objects.update_or_create(item=item, defaults={
                "position": position, "level": result.level, "message": result.message,
                "checked_at": now})


def run_checks(stripe_settings: StripeSettings, webhook_url: str) -> list[CheckResult]:
    """Ask Stripe (no transaction may be open), then store what it said."""
    results = check_setup(stripe_settings, webhook_url)
    store_results(results)
    return results


@dataclass(frozen=True)
class PriceVerdict:
    """Stripe's verdict on a group's price: ``error`` refuses it, ``warning`` only advises."""

    error: ValidationError | None = None
    warning: str | None = None
    # For a price that passed: what the group stores about it (prices.price_details).
    details: dict | None = None


def check_group_price(price_id: str) -> PriceVerdict:
    """Ask Stripe whether ``price_id`` can be a group's price; never raises."""
    config = StripeSettings.load()
    if not config.secret_key:
        return PriceVerdict(warning="Stripe is not configured, so the price could not be checked.")
    try:
        price = gateway.retrieve_price(price_id, config=config, with_product=True)
    except gateway.StripeInvalidRequest as exc:
        if exc.is_missing:
            return PriceVerdict(ValidationError(f"No such price in Stripe: {price_id}.",
                                                code="unknown"))
        return PriceVerdict(ValidationError(exc.message, code="invalid"))
    except gateway.StripeError as exc:
        return PriceVerdict(warning=f"The price could not be checked: {exc.message}")
    problem = price_problem(price)
    if problem == "inactive":
        return PriceVerdict(ValidationError(f"The price {price_id} is not active.",
                                            code="inactive"))
    if problem == "product_archived":
        return PriceVerdict(ValidationError(
            f"The price {price_id} belongs to an archived product; Stripe does not sell it.",
            code="product_archived"))
    if problem == "one_time":
        return PriceVerdict(ValidationError(ONE_TIME_MESSAGE, code="one_time"))
    return PriceVerdict(details=price_details(price))


def validate_group_price(price_id: str) -> str | None:
    """Raise ValidationError for a bad price; a warning text when Stripe can't tell; else None."""
    return apply_verdict(check_group_price(price_id))


def apply_verdict(verdict: PriceVerdict) -> str | None:
    """Raise the verdict's error, else return its warning."""
    if verdict.error is not None:
        raise verdict.error
    return verdict.warning
