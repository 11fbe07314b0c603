"""The request pipeline of /rcms-api/{api_id}/{path}.

Order (each step can end the request; see docs/api.md):
route (404) → CORS preflight → method (405) → rate limit (429) → CSRF on
cookie APIs (403) → signed-in member (401) → body size (413) → content type /
JSON / fields (400) → the operation's handler.

Nothing escapes as HTML: ApiError becomes its envelope, anything else is
answered as ``failures.error_for`` decides (503 for an unreachable database or
undecryptable settings, else a generic 500 logged with the request id).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.debug import sensitive_variables

from . import bodies, envelope, failures, ratelimit, routing, security
from .context import OperationContext


def guarded(request: HttpRequest, answer: Callable[[dict[str, str]], HttpResponse]) -> HttpResponse:
    """Run ``answer(headers)`` and turn any failure into the error envelope.

    ``headers`` collects headers (CORS, rate limit) that belong on the response
    whether it succeeds or fails.
    """
    request_id = envelope.request_id_for(request)
    headers: dict[str, str] = {}
    try:
        response = answer(headers)
    except Exception as exc:
        response = failures.failure(failures.error_for(exc, request), request)
    for name, value in headers.items():
        if name not in response:
            response[name] = value
    response[envelope.REQUEST_ID] = request_id
    return response


def dispatch(request: HttpRequest, api_id: int, path: str) -> HttpResponse:
    return guarded(request, lambda headers: _answer(request, api_id, path, headers))


@sensitive_variables()
def _answer(request: HttpRequest, api_id: int, path: str, headers: dict[str, str]) -> HttpResponse:
    request_id = envelope.request_id_for(request)
    api, candidates = routing.route(api_id, path)
    headers.update(security.cors_headers(request, api))
    routing.require_found(candidates)
    methods = routing.allowed_methods(candidates)

    if security.is_preflight(request):
        return envelope.empty(request_id, headers=security.preflight_headers(request, api, methods))
    if request.method == "OPTIONS":
        return envelope.empty(request_id, headers={"Allow": ", ".join(methods)})
    endpoint = routing.for_method(candidates, request.method)
    spec = endpoint.spec

    member = security.current_member(request, api)
    window = ratelimit.hit(endpoint, ratelimit.client_key(request, member))
    if window is not None:
        headers.update(window.headers)
        ratelimit.enforce(window)

    security.check_csrf(request, api)
    if spec.needs_member:
        security.require_member(api, member)
    data = bodies.request_data(request, spec)

    handler = routing.handler_for(endpoint)
    result = handler(OperationContext(request=request, api=api, endpoint=endpoint,
                                      member=member, data=data))
    return envelope.success(result, request_id)
