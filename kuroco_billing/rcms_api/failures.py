"""Every failure under /rcms-api/ and the Stripe webhook answers in the JSON envelope.

:func:`error_for` decides how an exception that escaped a handler is answered
(and logs it once); :class:`JsonFailuresMiddleware` applies it to whatever the
views let through and replaces any HTML error page, with DEBUG on or off.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse

from payments.crypto import DecryptionError

from . import envelope
from .errors import CODE_BY_STATUS, ApiError

logger = logging.getLogger("kuroco_billing.rcms_api.dispatch")

JSON_PATH_PREFIXES = ("/rcms-api/", "/direct/stripe/")
INTERNAL_ERROR = "An unexpected error occurred. Quote the request id when reporting it."
UNAVAILABLE = "The service is temporarily unavailable. Try again shortly."
SETTINGS_UNREADABLE = "The payment settings cannot be read right now. Try again later."
# Headers of a replaced page that still tell the client something true.
KEPT_HEADERS = ("Allow", "Retry-After", "Vary")


class LoggedError(ApiError):
    """An error whose one log line is written: Django must not log the answer again."""


def answers_in_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATH_PREFIXES)


def error_for(exc: BaseException, request: HttpRequest) -> ApiError:
    """The envelope error for ``exc``; logs what an operator must look at."""
    request_id = envelope.request_id_for(request)
    where = f"[request {request_id} {request.method} {request.path}]"
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Http404):
        return ApiError("not_found", "Not found.")
    if isinstance(exc, PermissionDenied):
        return ApiError("forbidden", "Forbidden.")
    if isinstance(exc, RequestDataTooBig):
        return ApiError("payload_too_large", "The request body is too large.")
    if isinstance(exc, SuspiciousOperation):
        return ApiError("bad_request", "Bad request.")
    if isinstance(exc, DecryptionError):
        # One line, no traceback: the cause is the deployment's key, not the request.
        logger.error("Settings undecryptable: %s %s", DecryptionError.CAUSE, where)
        return LoggedError("service_unavailable", SETTINGS_UNREADABLE,
                           headers={"Retry-After": "30"})
    if isinstance(exc, OperationalError | InterfaceError):
        logger.exception("Database unavailable %s", where)
        return ApiError("service_unavailable", UNAVAILABLE)
    logger.exception("Unhandled error %s", where)
    return ApiError("internal_server_error", INTERNAL_ERROR)


def failure(error: ApiError, request: HttpRequest) -> HttpResponse:
    response = envelope.failure(error, envelope.request_id_for(request))
    if isinstance(error, LoggedError):
        response._has_been_logged = True  # read by django.utils.log.log_response
    return response


def _phrase(status: int) -> str:
    try:
        return f"{HTTPStatus(status).phrase}."
    except ValueError:
        return "Bad request."


class JsonFailuresMiddleware:
    """Outermost: answers in JSON on the API paths whatever failed and wherever."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not answers_in_json(request) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith(envelope.JSON_CONTENT_TYPE):
            return response
        # An HTML page (Django's debug or error page, a middleware's refusal).
        status = response.status_code
        code = CODE_BY_STATUS.get(status, "internal_server_error" if status >= 500
                                  else "bad_request")
        message = INTERNAL_ERROR if status >= 500 else _phrase(status)
        headers = {name: response[name] for name in KEPT_HEADERS if name in response}
        replaced = failure(ApiError(code, message, status=status, headers=headers), request)
        replaced._has_been_logged = getattr(response, "_has_been_logged", False)
        return replaced

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not answers_in_json(request):
            return None
        return failure(error_for(exc, request), request)
