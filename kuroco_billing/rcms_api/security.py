"""Who is calling, whether the call may be cross-site, and CORS.

Cookie APIs: the Django session shared by all cookie APIs; unsafe requests
must be JSON and come from the site itself or one of the API's CORS origins
(the CSRF rule, see docs/api.md). Dynamic-token APIs: an access token of
this API in ``X-RCMS-API-ACCESS-TOKEN``; cookies mean nothing there.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest

from .errors import ApiError
from .models import Api

ACCESS_TOKEN_HEADER = "X-RCMS-API-ACCESS-TOKEN"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"
ALLOWED_REQUEST_HEADERS = "Content-Type, X-RCMS-API-ACCESS-TOKEN"
EXPOSED_HEADERS = (
    "x-rcms-request-id, x-rcms-ratelimit-limit, x-rcms-ratelimit-remaining, "
    "x-rcms-ratelimit-reset, Retry-After"
)
PREFLIGHT_MAX_AGE = "600"

NOT_SIGNED_IN = {
    Api.Security.COOKIE: "Sign in first: this operation needs a signed-in member.",
    Api.Security.DYNAMIC_TOKEN: (
        "A valid access token is required in the X-RCMS-API-ACCESS-TOKEN header."
    ),
}
CROSS_SITE_ORIGIN = "Cross-site request refused: this origin may not call this API."
CROSS_SITE_NOT_JSON = (
    "Request refused: on this API, POST, PUT, PATCH and DELETE requests must have "
    "Content-Type application/json."
)
ORIGIN_NOT_ALLOWED = "This origin is not allowed to call this API."
MALFORMED_REFERER = "Request refused: the Referer header is not a valid URL."


# --- Who is calling ------------------------------------------------------------

def current_member(request: HttpRequest, api: Api):
    """The active member signed in for ``api``'s security mode, or None."""
    if api.security == Api.Security.COOKIE:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None
    from members.services import member_for_access_token

    return member_for_access_token(api, request.headers.get(ACCESS_TOKEN_HEADER))


def require_member(api: Api, member) -> None:
    if member is None:
        raise ApiError("unauthorized", NOT_SIGNED_IN[api.security])


# --- CSRF (cookie APIs) ----------------------------------------------------------

def is_json(request: HttpRequest) -> bool:
    return request.content_type == JSON


def site_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def request_origin(request: HttpRequest) -> str | None:
    """``Origin``, or else the origin of ``Referer``; None when neither is sent."""
    origin = request.headers.get("Origin")
    if origin:
        return origin.rstrip("/")
    referer = request.headers.get("Referer")
    if not referer:
        return None
    try:
        parts = urlsplit(referer)
    except ValueError:  # e.g. "http://[::1": an unclosed IPv6 host
        raise ApiError("bad_request", MALFORMED_REFERER) from None
    if not parts.scheme or not parts.netloc:
        return "null"  # unparsable: matches no allowed origin
    return f"{parts.scheme}://{parts.netloc}"


def check_csrf(request: HttpRequest, api: Api) -> None:
    """Refuse a cookie API's unsafe request that a third-party page could have forged.

    The session cookie rides along with any request the browser sends, so the
    request itself must prove it is not cross-site: its origin must be this
    site or one of the API's CORS origins, and it must be JSON (a cross-site
    form can't send application/json without a CORS preflight we'd refuse).
    """
    if api.security != Api.Security.COOKIE or request.method not in UNSAFE_METHODS:
        return
    origin = request_origin(request)
    if origin is not None and origin not in {site_origin(request), *api.allowed_origins}:
        raise ApiError("forbidden", CROSS_SITE_ORIGIN)
    if not is_json(request):
        raise ApiError("forbidden", CROSS_SITE_NOT_JSON)


# --- CORS --------------------------------------------------------------------------

def allowed_origin(request: HttpRequest, api: Api) -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin.rstrip("/") in api.allowed_origins:
        return origin
    return None


def cors_headers(request: HttpRequest, api: Api) -> dict[str, str]:
    """Headers that let a listed origin read this answer; none for anyone else."""
    headers = {"Vary": "Origin"}
    origin = allowed_origin(request, api)
    if origin is None:
        return headers
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if api.cors_allow_credentials:
        headers["Access-Control-Allow-Credentials"] = "true"
    return headers


def is_preflight(request: HttpRequest) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def preflight_headers(request: HttpRequest, api: Api, methods: list[str]) -> dict[str, str]:
    """The 204 preflight answer's headers; 403 for an origin the API does not list."""
    if allowed_origin(request, api) is None:
        raise ApiError("forbidden", ORIGIN_NOT_ALLOWED)
    return {
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
    }
