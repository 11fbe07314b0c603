"""Where the demo site answers (``DEMO_SITE_URL``) and the addresses derived from it."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse


def site_url() -> str:
    return settings.DEMO_SITE_URL.rstrip("/")


def site_origin() -> str:
    parts = urlsplit(site_url())
    return f"{parts.scheme}://{parts.netloc}"


def webhook_url() -> str:
    return site_url() + reverse("payments:stripe-webhook")

