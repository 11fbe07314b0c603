"""Checks the admin runs on the Stripe settings page and when a group's price is saved.

Both ask Stripe, so the admin runs them outside its transaction (see ``payments.admin``
and ``members.admin``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError

from members.models import PRICE_DETAIL_FIELDS, MemberGroup

from . import gateway
from .models import WEBHOOK_EVENTS, StripeSettings
from .prices import price_details, price_problem

ONE_TIME_MESSAGE = "One-time purchases are not supported: choose a recurring price."


@dataclass
class CheckResult:
    level: Literal["success", "warning", "error"]
    message: str


SETUP_PROBLEM_TEXT = {
    "inactive": "is not active",
    "one_time": "is a one-time price (only recurring prices can be sold)",
}


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def check_setup(stripe_settings: StripeSettings, webhook_url: str) -> list[CheckResult]:
    """What works and what doesn't, never raising."""
    if not stripe_settings.secret_key:
        return [CheckResult("error", "No secret key is set.")]
    results: list[CheckResult] = []
    try:
        account = gateway.retrieve_account(config=stripe_settings)
        results.append(
            CheckResult("success", f"The secret key works (account {account.get('id')}).")
        )
    except gateway.StripeError as exc:
        return [CheckResult("error", f"The secret key does not work: {exc.message}")]

    try:
        endpoints = gateway.list_webhook_endpoints(config=stripe_settings)
    except gateway.StripeError as exc:
        results.append(CheckResult("error", f"Webhook endpoints could not be read: {exc.message}"))
    else:
        results.append(_webhook_check(endpoints, webhook_url))

    groups = list(MemberGroup.objects.exclude(stripe_price_id=None).order_by("name"))
    if not groups:
        results.append(CheckResult("warning", "No member group is linked to a Stripe price."))
    for group in groups:
        try:
            price = gateway.retrieve_price(group.stripe_price_id, config=stripe_settings,
                                           with_product=True)
        except gateway.StripeInvalidRequest as exc:
            message = (f"Group {group.name}: price {group.stripe_price_id} does not exist."
                       if exc.is_missing else f"Group {group.name}: {exc.message}")
            results.append(CheckResult("error", message))
            continue
        except gateway.StripeError as exc:
            results.append(CheckResult("error", f"Group {group.name}: {exc.message}"))
            continue
        problem = price_problem(price)
        if problem:
            results.append(CheckResult(
                "error",
                f"Group {group.name}: price {group.stripe_price_id} "
                f"{SETUP_PROBLEM_TEXT[problem]}."))
        else:
            _store_price_details(group, price)
            results.append(CheckResult(
                "success",
                f"Group {group.name}: price {group.stripe_price_id} is active and recurring.",
            ))
    return results


def _store_price_details(group: MemberGroup, price: dict) -> None:
    group.set_price_details(price_details(price))
    group.save(update_fields=PRICE_DETAIL_FIELDS)


def _webhook_check(endpoints: list[dict], webhook_url: str) -> CheckResult:
    matching = [e for e in endpoints if _same_url(e.get("url") or "", webhook_url)]
    if not matching:
        return CheckResult("error", f"No Stripe webhook endpoint sends to {webhook_url}.")
    for endpoint in matching:
        events = set(endpoint.get("enabled_events") or [])
        listens = "*" in events or set(WEBHOOK_EVENTS) <= events
        if listens and endpoint.get("status", "enabled") == "enabled":
            return CheckResult("success", f"A webhook endpoint sends the subscription events to "
                                          f"{webhook_url}.")
    endpoint = matching[0]
    if endpoint.get("status", "enabled") != "enabled":
        return CheckResult("error", f"The webhook endpoint for {webhook_url} is disabled.")
    missing = sorted(set(WEBHOOK_EVENTS) - set(endpoint.get("enabled_events") or []))
    return CheckResult("error", f"The webhook endpoint for {webhook_url} does not send: "
                                f"{', '.join(missing)}.")


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
