"""Site-level pages: the health check and the demo page."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# The demo page talks to this API: the cookie API that seed_demo creates with pk 1.
DEMO_API_ID = 1


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, 503 when it does not.

    Load balancers and uptime checks read the status code; the body says no
    more than "ok" or "unavailable" so nothing about the setup leaks.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        # The class name is enough to start looking; the message may hold a DSN.
        logger.error("Health check failed: database unreachable (%s)", type(exc).__name__)
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@require_safe
def demo(request: HttpRequest) -> HttpResponse:
    """A member's page driven by API 1 (cookie): sign in, subscribe, cancel."""
    return render(request, "demo/index.html", {"api_base": f"/rcms-api/{DEMO_API_ID}"})
