"""Kuroco's JSON envelope, for every answer under /rcms-api/.

Success: the operation's data plus ``"messages": [...]`` and ``"errors": []``.
Failure: ``{"errors": [{"code", "message", "field"?}], "x-rcms-request-id": "<uuid>"}``.
Both carry the ``x-rcms-request-id`` header.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.http import HttpRequest, HttpResponse
from rest_framework.renderers import JSONRenderer

from .errors import ApiError

REQUEST_ID = "x-rcms-request-id"
JSON_CONTENT_TYPE = "application/json"


def request_id_for(request: HttpRequest) -> str:
    """The request's id, made on first use so every part of one answer agrees."""
    request_id = getattr(request, "rcms_request_id", None)
    if request_id is None:
        request_id = str(uuid.uuid4())
        request.rcms_request_id = request_id
    return request_id


def json_response(
    data: object, request_id: str, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(
        JSONRenderer().render(data), status=status, content_type=JSON_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    response[REQUEST_ID] = request_id
    return response


def success(data: Mapping, request_id: str) -> HttpResponse:
    body = {key: value for key, value in data.items() if key not in ("messages", "errors")}
    body["messages"] = [str(message) for message in data.get("messages", [])]
    body["errors"] = []
    return json_response(body, request_id)


def failure(error: ApiError, request_id: str) -> HttpResponse:
    body = {"errors": [item.as_dict() for item in error.items], REQUEST_ID: request_id}
    return json_response(body, request_id, status=error.status, headers=error.headers)


def empty(request_id: str, *, status: int = 204, headers: Mapping[str, str] | None = None):
    response = HttpResponse(status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    response[REQUEST_ID] = request_id
    return response
