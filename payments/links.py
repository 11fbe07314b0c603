"""Links to Stripe's dashboard (or the emulator's) for an object."""

from __future__ import annotations

from typing import Literal

from django.conf import settings

from .models import StripeSettings

Kind = Literal["customers", "subscriptions"]


def dashboard_url(kind: Kind, object_id: str) -> str:
    if kind not in ("customers", "subscriptions"):
        raise ValueError(f"Unknown dashboard object kind {kind!r}.")
    api_base = (settings.STRIPE_API_BASE or "").rstrip("/")
    if api_base:
        return f"{api_base}/{kind}/{object_id}"
    prefix = "" if StripeSettings.load().livemode else "/test"
    return f"https://dashboard.stripe.com{prefix}/{kind}/{object_id}"
