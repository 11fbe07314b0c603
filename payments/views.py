"""The Stripe webhook endpoint. Thin: the rules live in services.webhooks.

This endpoint talks to Stripe, not to the front end, so it answers plain
JSON: ``{"received": true, "status": ...}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .services import webhooks

logger = logging.getLogger("payments.webhooks")


def _error(message: str, status: int, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@csrf_exempt
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _error("Method not allowed; Stripe sends POST.", 405, Allow="POST")
    limit = settings.STRIPE_WEBHOOK_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error("Invalid Content-Length.", 400)
    if length > limit:
        return _error(f"Body larger than {limit} bytes.", 413)
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(f"Body larger than {limit} bytes.", 413)
    try:
        outcome = webhooks.receive(body, request.headers.get("Stripe-Signature"))
    except webhooks.WebhookRejected as exc:
        return _error(exc.message, exc.status)
    except DatabaseError:
        logger.exception("webhook_database_unavailable")
        return _error("Database unavailable; retry later.", 503, **{"Retry-After": "30"})
    if outcome.http_status != 200:
        return _error("Processing failed; Stripe will retry.", outcome.http_status)
    return JsonResponse({"received": True, "status": outcome.result})
