"""Checks the admin runs on the Stripe settings page and when a group's price is saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError

from members.models import MemberGroup

from . import gateway
from .models import WEBHOOK_EVENTS, StripeSettings

ONE_TIME_MESSAGE = "One-time purchases are not supported: choose a recurring price."


@dataclass
class CheckResult:
    level: Literal["success", "warning", "error"]
    message: str


def _price_problem(price: dict) -> str | None:
    if not price.get("active", True):
        return "is not active"
    if price.get("type") != "recurring" or not price.get("recurring"):
        return "is a one-time price (only recurring prices can be sold)"
    return None


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
            price = gateway.retrieve_price(group.stripe_price_id, config=stripe_settings)
        except gateway.StripeInvalidRequest as exc:
            message = (f"Group {group.name}: price {group.stripe_price_id} does not exist."
                       if exc.is_missing else f"Group {group.name}: {exc.message}")
            results.append(CheckResult("error", message))
            continue
        except gateway.StripeError as exc:
            results.append(CheckResult("error", f"Group {group.name}: {exc.message}"))
            continue
        problem = _price_problem(price)
        if problem:
            results.append(CheckResult(
                "error", f"Group {group.name}: price {group.stripe_price_id} {problem}."))
        else:
            results.append(CheckResult(
                "success",
                f"Group {group.name}: price {group.stripe_price_id} is active and recurring.",
            ))
    return results


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


def validate_group_price(price_id: str) -> str | None:
    """Raise ValidationError for a bad price; a warning text when Stripe can't tell; else None."""
    config = StripeSettings.load()
    if not config.secret_key:
        return "Stripe is not configured, so the price could not be checked."
    try:
        price = gateway.retrieve_price(price_id, config=config)
    except gateway.StripeInvalidRequest as exc:
        if exc.is_missing:
            raise ValidationError(f"No such price in Stripe: {price_id}.", code="unknown") from None
        raise ValidationError(exc.message, code="invalid") from None
    except gateway.StripeError as exc:
        return f"The price could not be checked: {exc.message}"
    if not price.get("active", True):
        raise ValidationError(f"The price {price_id} is not active.", code="inactive")
    if price.get("type") != "recurring" or not price.get("recurring"):
        raise ValidationError(ONE_TIME_MESSAGE, code="one_time")
    return None
