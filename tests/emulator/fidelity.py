"""Check emulator objects against Stripe's JSON Schema for API version 2026-10-28.endive,
read from ``../shared/stripe/`` (or ``STRIPE_REFERENCE_DIR``); absent, the checks skip."""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(os.environ.get("STRIPE_REFERENCE_DIR") or REPO / ".." / "shared" / "stripe")
SCHEMA_FILE = REFERENCE / "schemas-2026-10-28.endive.json"

# An object's ``object`` field -> its entry in the schema's ``roots``.
ROOTS = {
    "account": "account", "balance": "balance", "customer": "customer",
    "product": "product", "price": "price", "checkout.session": "checkout_session",
    "item": "item", "subscription": "subscription", "subscription_item": "subscription_item",
    "invoice": "invoice", "line_item": "invoice_line_item",
    "webhook_endpoint": "webhook_endpoint", "event": "event", "list": "list",
    "billing_portal.session": "billing_portal_session",
    "billing_portal.configuration": "billing_portal_configuration",
    "payment_method": "payment_method",
}
DELETED_ROOTS = {"customer": "deleted_customer", "product": "deleted_product",
                 "webhook_endpoint": "deleted_webhook_endpoint"}


@functools.cache
def _schema() -> dict[str, Any]:
    with SCHEMA_FILE.open(encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _validator(root: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _schema()
    return jsonschema.Draft7Validator({**schema["roots"][root],
                                       "definitions": schema["definitions"]})


def require_schema() -> None:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"Stripe's schema is not here: {SCHEMA_FILE} (set STRIPE_REFERENCE_DIR)")


def _root(obj: dict[str, Any]) -> str | None:
    kind = obj.get("object")
    if obj.get("deleted") is True:
        return DELETED_ROOTS.get(kind)
    return ROOTS.get(kind)


def problems(obj: Any, where: str = "") -> list[str]:
    """What in ``obj`` (an API answer or an event) the schema does not allow; [] if valid."""
    if not isinstance(obj, dict):
        return []
    if "error" in obj and "object" not in obj:
        return []  # an error envelope, not an object
    root = _root(obj)
    label = where or f"{obj.get('object')} {obj.get('id', '')}".strip()
    if root is None:
        return [f"{label}: no schema for object {obj.get('object')!r}"]
    found = [f"{label}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}"
             for e in _best(_validator(root).iter_errors(obj))]
    if obj.get("object") == "list":
        for i, item in enumerate(obj.get("data") or []):
            found += problems(item, f"{label}.data[{i}]")
    if obj.get("object") == "event":
        found += problems(obj["data"]["object"], f"{label} ({obj['type']}) data.object")
    return found


ID = re.compile(r"\b(cs_test|sub|in|prod|cus|evt|price|we|il|si|pm|bpc|bps|li|pi|req)_"
                r"[A-Za-z0-9]{8,}")


def schema_present() -> bool:
    return SCHEMA_FILE.exists()


def check(answers: list[tuple[str, str, Any]], events: list[dict[str, Any]]) -> list[str]:
    """Problems in recorded API answers and in events, each kind listed once."""
    found = []
    for method, path, body in answers:
        if path.startswith("/_emulator"):
            continue  # the emulator's own controls, not Stripe objects
        found += [f"{method} {ID.sub('…', path)}: {p}" for p in problems(body)]
    for event in events:
        found += problems(event)
    return sorted({ID.sub("…", p) for p in found})


def _best(errors: Any) -> list[Any]:
    """Readable errors: inside an ``anyOf`` (``null`` or an object), the object branch's."""
    out = []
    for error in errors:
        if not error.context:
            out.append(error)
            continue
        inner = [e for e in error.context if "is not of type 'null'" not in e.message
                 and "is not of type 'string'" not in e.message]
        out.extend(_best(inner) if inner else [error])
    return out
