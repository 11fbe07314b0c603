"""Which endpoint a request under /rcms-api/{api_id}/{path} is for.

An endpoint is live when it and its API are enabled and its operation is in
the catalogue (and, for token-only operations, the API uses dynamic tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from django.db import connection
from django.utils.module_loading import import_string

from kuroco_billing.rows import columns, from_row

from . import catalogue
from .errors import ApiError
from .models import Api, Endpoint

API_NOT_FOUND = "API not found."
PATH_NOT_FOUND = "No endpoint at this path."


def find_api(api_id: int) -> Api:
    api = Api.objects.filter(pk=api_id, enabled=True).first()
    if api is None:
        raise ApiError("not_found", API_NOT_FOUND)
    return api


def is_live(api: Api, endpoint: Endpoint) -> bool:
    spec = catalogue.BY_NAME.get(endpoint.operation)
    if spec is None:
        return False
    return not (spec.dynamic_token_only and api.security != Api.Security.DYNAMIC_TOKEN)


def live_endpoints(api: Api) -> list[Endpoint]:
    return [e for e in api.endpoints.filter(enabled=True).order_by("path", "id") if is_live(api, e)]


def normalise(path: str) -> str:
    return path.strip("/")


def route(api_id: int, path: str) -> tuple[Api, list[Endpoint]]:
    """The enabled API and its live endpoints at ``path`` (maybe none), in one query.

    404 when the API does not exist or is disabled. This runs on every request:
    stored paths have no leading or trailing slash (the endpoint form refuses
    them), so the database picks the rows, and each brings its API along.
    """
    if "\x00" in path:  # no stored path holds one, and the database refuses it
        return find_api(api_id), []
    with connection.cursor() as cursor:
        cursor.execute(_route_sql(), [api_id, normalise(path)])
        found = cursor.fetchall()
    if not found:  # a refusal: which 404 it is costs a second query
        return find_api(api_id), []
    split = len(Endpoint._meta.concrete_fields)
    api = from_row(Api, found[0][split:])
    return api, live_at(api, [from_row(Endpoint, row[:split]) for row in found])


@cache
def _route_sql() -> str:
    """The ORM's query for ``route``, written once: it would be compiled on every request."""
    return """SELECT {endpoint_columns}, {api_columns}
            FROM "{endpoints}" e INNER JOIN "{apis}" a ON a."id" = e."api_id"
            WHERE e."api_id" = %s AND a."enabled" AND e."enabled" AND e."path" = %s
            ORDER BY e."id" """.format(  # noqa: S608 (names from the models)
            endpoint_columns=columns(Endpoint, "e"), api_columns=columns(Api, "a"),
            endpoints=Endpoint._meta.db_table, apis=Api._meta.db_table)


def live_at(api: Api, rows: list[Endpoint]) -> list[Endpoint]:
    found = []
    for endpoint in rows:
        endpoint.api = api  # one Api object for the request, whichever row brought it
        if is_live(api, endpoint):
            found.append(endpoint)
    return found


def require_found(endpoints: list[Endpoint]) -> list[Endpoint]:
    if not endpoints:
        raise ApiError("not_found", PATH_NOT_FOUND)
    return endpoints


def allowed_methods(endpoints: list[Endpoint]) -> list[str]:
    return [*sorted({e.method for e in endpoints}), "OPTIONS"]


def for_method(endpoints: list[Endpoint], method: str) -> Endpoint:
    for endpoint in endpoints:
        if endpoint.method == method:
            return endpoint
    allow = ", ".join(allowed_methods(endpoints))
    raise ApiError(
        "method_not_allowed", f"Method {method} is not allowed here. Allowed: {allow}.",
        headers={"Allow": allow},
    )


def handler_for(endpoint: Endpoint) -> Callable:
    """The operation's handler, imported from its dotted path in the catalogue."""
    return import_string(endpoint.spec.handler)
