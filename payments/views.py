"""The Stripe webhook endpoint. Thin: the rules live in services.webhooks.

Success is ``{"received": true, "status": ...}``. Every error answer, whatever
raised it (``failures.error_for``), uses the front-end API's failure envelope:
``{"errors": [{"code", "message"}], "x-rcms-request-id": "<uuid>"}``, so the
one shape is documented and parsed everywhere, Stripe's dashboard included.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from kuroco_billing.clients import client_ip
from kuroco_billing.rcms_api import envelope, failures
from kuroco_billing.rcms_api.errors import CODE_BY_STATUS, ApiError

from .services import refusals, signatures, webhooks

logger = logging.getLogger("payments.webhooks")


def _refused(request: HttpRequest, started: float, message: str, status: int,
             body: bytes = b"", **headers: str) -> ApiError:
    """A refused delivery: one WARNING line and one count, no body, headers or secrets."""
    refusals.record_refusal(message, client_ip(request), body)
    logger.warning(
        'webhook_refused status=%d reason="%s" outcome=refused duration_ms=%d',
        status, message, (time.monotonic() - started) * 1000,
    )
    return ApiError(CODE_BY_STATUS[status], message, status=status, headers=headers)


def _receive(request: HttpRequest, started: float) -> dict:
    if request.method != "POST":
        raise _refused(request, started, "Method not allowed; Stripe sends POST.", 405,
                       Allow="POST")
    limit = settings.STRIPE_WEBHOOK_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _refused(request, started, "Invalid Content-Length.", 400) from None
    if length > limit:
        raise _refused(request, started, f"Body larger than {limit} bytes.", 413)
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _refused(request, started, f"Body larger than {limit} bytes.", 413)
    try:
        # From META: request.headers would first copy every header, for this one.
        outcome = webhooks.receive(body, request.META.get("HTTP_STRIPE_SIGNATURE"))
    except signatures.WebhookRejected as exc:
        raise _refused(request, started, exc.message, exc.status, body) from None
    except (OperationalError, InterfaceError):
        logger.exception("webhook_database_unavailable")
        raise ApiError("service_unavailable", "Database unavailable; retry later.",
                       headers={"Retry-After": "30"}) from None
    except DataError:
        # The database refused a value of the event (too long, out of range):
        # the event itself is at fault, retrying will not help.
        raise _refused(request, started,
                       "The event holds a value the database cannot store.", 400, body) from None
    except DatabaseError:
        logger.exception("webhook_database_error")
        raise ApiError("internal_server_error",
                       "Processing failed; Stripe will retry.") from None
    if outcome.http_status != 200:
        raise ApiError("internal_server_error", "Processing failed; Stripe will retry.",
                       status=outcome.http_status)
    return {"received": True, "status": outcome.result}


@csrf_exempt
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        data = _receive(request, time.monotonic())
    except Exception as exc:
        # Whatever went wrong (undecryptable settings: 503), the envelope, never a page.
        return failures.failure(failures.error_for(exc, request), request)
    return envelope.json_response(data, envelope.request_id_for(request))
