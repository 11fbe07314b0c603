"""A subscription's plan: the member group(s) whose Stripe price it holds."""

from __future__ import annotations

from django.db import connection
from django.db.models import Q

from members.models import MemberGroup


def has_price(price_id: str) -> Q:
    """SubscriptionState rows whose ``price_ids`` list holds ``price_id``."""
    if connection.features.supports_json_field_contains:
        return Q(price_ids__contains=[price_id])
    # SQLite: match the quoted ID in the stored JSON text (IDs are price_[A-Za-z0-9]+).
    return Q(price_ids__icontains=f'"{price_id}"')


def plan_names(price_ids: list[str] | None, groups_by_price: dict[str, str]) -> list[str]:
    """The member groups a subscription's prices grant: its plan, as people call it."""
    return [groups_by_price[p] for p in price_ids or () if p in groups_by_price]


def groups_by_price() -> dict[str, str]:
    return dict(
        MemberGroup.objects.exclude(stripe_price_id=None).values_list("stripe_price_id", "name")
    )
