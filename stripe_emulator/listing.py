"""Stripe list objects: newest first, ``limit`` / ``starting_after`` / ``ending_before``."""

from __future__ import annotations

from typing import Any

from .errors import invalid, no_such
from .params import get_int, get_str


def paginate(items: list[dict[str, Any]], params: dict[str, Any], url: str,
             label: str) -> dict[str, Any]:
    """``items`` must already be filtered and ordered newest first."""
    limit = get_int(params, "limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise invalid("limit", "This value must be greater than or equal to 1 and less than "
                      "or equal to 100.", code="parameter_invalid_integer")
    after = get_str(params, "starting_after", allow_empty=False)
    before = get_str(params, "ending_before", allow_empty=False)
    ids = [item["id"] for item in items]
    if after:
        if after not in ids:
            raise no_such(label, after, param="starting_after", status=400)
        rest = items[ids.index(after) + 1:]
        page, has_more = rest[:limit], len(rest) > limit
    elif before:
        if before not in ids:
            raise no_such(label, before, param="ending_before", status=400)
        rest = items[:ids.index(before)]
        page, has_more = rest[-limit:], len(rest) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def created_filter(params: dict[str, Any]) -> Any:
    """Return a predicate on ``created`` for ``created=N`` or ``created[gte]=N`` ..."""
    raw = params.get("created")
    if raw is None:
        return lambda _ts: True
    if not isinstance(raw, dict):
        exact = get_int(params, "created")
        return lambda ts: ts == exact
    bounds = {op: get_int(raw, op, label=f"created[{op}]") for op in ("gt", "gte", "lt", "lte")}

    def check(ts: int) -> bool:
        return not (
            (bounds["gt"] is not None and not ts > bounds["gt"])
            or (bounds["gte"] is not None and not ts >= bounds["gte"])
            or (bounds["lt"] is not None and not ts < bounds["lt"])
            or (bounds["lte"] is not None and not ts <= bounds["lte"])
        )

    return check
