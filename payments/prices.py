"""The two rules a price must meet to be sold: recurring and active, and linked to a group."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from members.models import MemberGroup

PriceProblem = Literal["inactive", "one_time"]


def price_problem(price: dict) -> PriceProblem | None:
    """Why a Stripe price object cannot be sold, or None when it is active and recurring."""
    if not price.get("active", True):
        return "inactive"
    if price.get("type") != "recurring" or not price.get("recurring"):
        return "one_time"
    return None


def unlinked_prices(price_ids: Iterable[str]) -> list[str]:
    """The prices no member group carries: selling one would grant nothing."""
    wanted = set(price_ids)
    linked = set(MemberGroup.objects.filter(stripe_price_id__in=wanted)
                 .values_list("stripe_price_id", flat=True))
    return sorted(wanted - linked)
