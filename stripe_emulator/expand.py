"""``expand[]``: replace ids with the objects they name, along dotted paths."""

from __future__ import annotations

from typing import Any

from .errors import invalid
from .state import Store

# The id prefix tells which table an id lives in.
PREFIX_KINDS = (
    ("cus_", "customer"), ("sub_", "subscription"), ("in_", "invoice"), ("price_", "price"),
    ("prod_", "product"), ("cs_", "checkout.session"), ("evt_", "event"),
    ("we_", "webhook_endpoint"), ("pm_", "payment_method"),
    ("bpc_", "billing_portal.configuration"),
)


def kind_of(object_id: str) -> str | None:
    for prefix, kind in PREFIX_KINDS:
        if object_id.startswith(prefix):
            return kind
    return None


def lookup(store: Store, object_id: str) -> dict[str, Any] | None:
    kind = kind_of(object_id)
    return store.get(kind, object_id) if kind else None


def expand(store: Store, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    for path in paths:
        _walk(store, obj, path.split("."), path)
    return obj


def _walk(store: Store, node: Any, parts: list[str], full: str) -> None:
    if not parts or node is None:
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        for item in node:
            _walk(store, item, parts, full)
        return
    if not isinstance(node, dict) or head not in node:
        raise invalid("expand", f"This property cannot be expanded ({full}).")
    value = node[head]
    if isinstance(value, str):
        found = lookup(store, value)
        if found is None:
            if kind_of(value) is None:
                raise invalid("expand", f"This property cannot be expanded ({full}).")
            return  # a deleted object stays an id
        node[head] = found
        value = found
    _walk(store, value, rest, full)
