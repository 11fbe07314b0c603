"""Events: retrieve, list (``type`` with ``*`` wildcards, ``types[]``, ``created[...]``)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from ..context import Ctx
from ..listing import created_filter, paginate
from ..params import get_list, get_str
from .common import Route, require


def retrieve(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return require(ctx, "event", id)


def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    pattern = get_str(params, "type")
    types = [str(t) for t in get_list(params, "types")]
    in_range = created_filter(params)
    items = [
        e for e in ctx.store.all("event")
        if (pattern is None or fnmatchcase(e["type"], pattern))
        and (not types or e["type"] in types)
        and in_range(e["created"])
    ]
    return paginate(items, params, "/v1/events", "event")


ROUTES: list[Route] = [
    ("GET", "/v1/events", list_),
    ("GET", "/v1/events/<id>", retrieve),
]
