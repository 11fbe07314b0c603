"""Views of /rcms-api/: thin wrappers over dispatch, schema and Swagger UI.

Also the JSON versions of Django's 400/403/404/500 pages for paths under
/rcms-api/ and the webhook (wired as handler400… in the root URLconf); other
paths keep Django's own pages.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView

from . import dispatch, envelope, failures, routing, schema, security
from .errors import ApiError

API_PREFIX = "/rcms-api/"
SWAGGER_UI_SETTINGS = {
    **spectacular_settings.SWAGGER_UI_SETTINGS,
    # Keep a pasted access token across reloads; send the session cookie.
    "persistAuthorization": True,
    "withCredentials": True,
}


@csrf_exempt  # cookie APIs apply their own CSRF rule (security.check_csrf)
@sensitive_post_parameters()  # sign-in bodies hold passwords, token bodies tokens
def endpoint(request: HttpRequest, api_id: int, path: str) -> HttpResponse:
    return dispatch.dispatch(request, api_id, path)


@csrf_exempt
def openapi_document(request: HttpRequest, api_id: int) -> HttpResponse:
    def answer(headers: dict[str, str]) -> HttpResponse:
        api = routing.find_api(api_id)
        headers.update(security.cors_headers(request, api))
        if request.method not in ("GET", "HEAD"):
            raise ApiError("method_not_allowed", f"Method {request.method} is not allowed here.",
                           headers={"Allow": "GET, HEAD"})
        document = schema.build_document(api, request)
        return envelope.json_response(document, envelope.request_id_for(request))

    return dispatch.guarded(request, answer)


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI for one API, served from drf-spectacular-sidecar's static files."""

    @extend_schema(exclude=True)  # a page, not an operation of any API
    def get(self, request, *args, **kwargs):
        api_id = kwargs["api_id"]
        try:
            api = routing.find_api(api_id)
        except ApiError:
            return not_found(request)
        self.url = f"{API_PREFIX}{api.pk}/openapi.json"
        self.title = f"{api.title} — Swagger UI"
        response = super().get(request, *args, **kwargs)
        response.data["settings"] = json.dumps(SWAGGER_UI_SETTINGS, indent=2)
        return response

    def options(self, request, *args, **kwargs):
        # DRF's own answer is metadata, rendered by this page's HTML renderer, which has
        # no template for it (a 500). A page has no metadata: what it allows, no body.
        return HttpResponse(status=204, headers={"Allow": "GET, HEAD, OPTIONS"})


def not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    return _error(request, ApiError("not_found", "Not found."))


def _error(request: HttpRequest, error: ApiError) -> HttpResponse:
    return dispatch.guarded(request, lambda headers: envelope.failure(
        error, envelope.request_id_for(request)))


def _is_api(request: HttpRequest) -> bool:
    return failures.answers_in_json(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _error(request, ApiError("bad_request", "Bad request."))
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _error(request, ApiError("forbidden", "Forbidden."))
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return envelope.failure(
            ApiError("internal_server_error", failures.INTERNAL_ERROR),
            envelope.request_id_for(request),
        )
    return defaults.server_error(request)
