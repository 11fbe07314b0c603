"""The two rules a price must meet to be sold: recurring and active, and linked to a group."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from django.utils import timezone

from members.models import MemberGroup

PriceProblem = Literal["inactive", "product_archived", "one_time"]


def price_problem(price: dict) -> PriceProblem | None:
    """Why a Stripe price object cannot be sold, or None when it is active and recurring."""
    if not price.get("active", True):
        return "inactive"
    # Stripe sells no price of an archived product, though the price stays active
    # (seen when the price came with ``expand[]=product``).
    product = price.get("product")
    if isinstance(product, dict) and not product.get("active", True):
        return "product_archived"
    if price.get("type") != "recurring" or not price.get("recurring"):
        return "one_time"
    return None


def linked_prices(price_ids: Iterable[str]) -> set[str]:
    """Those of ``price_ids`` that a member group carries (checkout's lock reads the same)."""
    return set(MemberGroup.objects.filter(stripe_price_id__in=set(price_ids))
               .values_list("stripe_price_id", flat=True))


def unlinked_among(price_ids: Iterable[str], linked: set[str]) -> list[str]:
    """The prices no member group carries: selling one would grant nothing."""
    return sorted(set(price_ids) - linked)


def unlinked_prices(price_ids: Iterable[str]) -> list[str]:
    """``unlinked_among``, the groups read from the database."""
    wanted = set(price_ids)
    return unlinked_among(wanted, linked_prices(wanted))


# Currencies Stripe counts in whole units (no cents): their amounts are not divided.
ZERO_DECIMAL_CURRENCIES = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
    "vuv", "xaf", "xof", "xpf",
})


def price_details(price: dict) -> dict:
    """The fields a member group stores about its price, from a Stripe price object.

    ``product`` is the product's name when the price came with ``expand[]=product``.
    """
    recurring = price.get("recurring") or {}
    product = price.get("product")
    return {
        "price_product_name": (product.get("name") or "") if isinstance(product, dict) else "",
        "price_unit_amount": price.get("unit_amount"),
        "price_currency": (price.get("currency") or "")[:3],
        "price_interval": recurring.get("interval") or "",
        "price_interval_count": recurring.get("interval_count") or (1 if recurring else None),
        "price_checked_at": timezone.now(),
    }


# Currencies Stripe counts in thousandths.
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def decimals_of(currency: str) -> int:
    """How many digits of an amount in ``currency`` are after the point (Stripe's unit)."""
    code = currency.lower()
    return 0 if code in ZERO_DECIMAL_CURRENCIES else 3 if code in THREE_DECIMAL_CURRENCIES else 2


def format_amount(amount: int | None, currency: str) -> str:
    """``1,000 JPY``, ``12.50 USD``, ``10.000 KWD``: Stripe's smallest unit shown as
    people read it."""
    if amount is None or not currency:
        return ""
    places = decimals_of(currency)
    return f"{amount / 10 ** places:,.{places}f} {currency.upper()}"


def format_interval(interval: str, count: int | None) -> str:
    """``month``, ``3 months``."""
    if not interval:
        return ""
    return interval if (count or 1) == 1 else f"{count} {interval}s"


def describe_price(group: MemberGroup) -> str:
    """``Basic — 1,000 JPY / month``, from the details stored on the group; "" if none."""
    amount = format_amount(group.price_unit_amount, group.price_currency)
    if not amount:
        return ""
    interval = format_interval(group.price_interval, group.price_interval_count)
    text = f"{amount} / {interval}" if interval else amount
    return f"{group.price_product_name} — {text}" if group.price_product_name else text
