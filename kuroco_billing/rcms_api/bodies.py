"""Reading and validating a request's data for an operation.

POST bodies must be JSON objects no larger than RCMS_API_MAX_BODY_BYTES;
GET operations get their query parameters. The operation's request
serializer (catalogue ``request_serializer``) then validates them, and
each invalid field becomes one ``bad_request`` error naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils.module_loading import import_string
from rest_framework.settings import api_settings

from .catalogue import Operation
from .errors import ApiError, ApiErrors, ErrorItem

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MALFORMED = "Malformed JSON body: {detail}."
NOT_AN_OBJECT = "The JSON body must be an object."
WRONG_CONTENT_TYPE = "Content-Type must be application/json."
TOO_LARGE = "The request body is too large (at most {limit} bytes)."


def request_data(request: HttpRequest, spec: Operation) -> dict:
    """The operation's validated input: JSON body for POST, query string for GET."""
    data = read_json_body(request) if request.method in BODY_METHODS else request.GET.dict()
    return validate(spec, data)


def read_json_body(request: HttpRequest) -> dict:
    limit = settings.RCMS_API_MAX_BODY_BYTES
    too_large = ApiError("payload_too_large", TOO_LARGE.format(limit=limit))
    # Refuse before reading a byte when the client admits the size...
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError("bad_request", "Invalid Content-Length header.") from None
    if declared > limit:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    # ...and check what was actually read, whatever the header said.
    if len(body) > limit:
        raise too_large
    if not body.strip():
        return {}
    if request.content_type != "application/json":
        raise ApiError("bad_request", WRONG_CONTENT_TYPE)
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError("bad_request", MALFORMED.format(detail="not UTF-8")) from None
    except json.JSONDecodeError as exc:
        # Position only: the message must not echo the body (it may hold a password).
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise ApiError("bad_request", MALFORMED.format(detail=detail)) from None
    except RecursionError:
        raise ApiError("bad_request", MALFORMED.format(detail="nested too deeply")) from None
    except ValueError:  # (after JSONDecodeError, its subclass) an integer too long to read
        raise ApiError("bad_request", MALFORMED.format(detail="a number too long")) from None
    if not isinstance(data, dict):
        raise ApiError("bad_request", NOT_AN_OBJECT)
    return data


def validate(spec: Operation, data: dict) -> dict:
    if not spec.request_serializer:
        return data
    serializer_class = import_string(spec.request_serializer)
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ApiErrors(
            [ErrorItem("bad_request", message, field) for field, message in
             field_errors(serializer.errors)]
        )
    return dict(serializer.validated_data)


def field_errors(detail: object, prefix: str = "") -> Iterator[tuple[str | None, str]]:
    """(field, first message) per invalid field; nested fields as ``a.b``, ``items.0``."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                yield (prefix or None), _first_message(value)
            else:
                yield from field_errors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(detail, list) and detail and all(isinstance(d, dict | list) for d in detail):
        # A list serializer: one entry per item, empty for valid items.
        for index, item in enumerate(detail):
            if item:
                yield from field_errors(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield (prefix or None), _first_message(detail)


def _first_message(detail: object) -> str:
    while isinstance(detail, list | tuple) and detail:
        detail = detail[0]
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    return str(detail) if detail else "Invalid value."


__all__ = ["field_errors", "read_json_body", "request_data", "validate"]
