"""Serve Stripe's webhook ahead of the middleware it has no use for."""

from __future__ import annotations

from django.db import connection
from django.urls import reverse


class WebhookFastPath:
    """Answer ``/direct/stripe/webhook/`` straight from its view.

    The webhook is signed, CSRF-exempt and sessionless: sessions, CSRF, users,
    messages, lockouts and static files would only cost time on Stripe's
    bursts. Place it right after SecurityMiddleware.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.path: str | None = None

    def __call__(self, request):
        if self.path is None:
            self.path = reverse("payments:stripe-webhook")
        if request.path_info != self.path:
            return self.get_response(request)
        from .views import stripe_webhook

        # The Host check CommonMiddleware would make (DisallowedHost: a 400 in the
        # envelope), which this path skips.
        request.get_host()
        # No SELECT 1 health check: should the connection have died, the
        # delivery is answered 503, Stripe retries, and Django replaces the
        # connection when the request ends (it saw the error).
        connection.health_check_done = True
        return stripe_webhook(request)
