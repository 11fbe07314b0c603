"""Decode Stripe's nested form encoding (``a[b][0][c]=v``, ``expand[]=x``) and read typed values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .errors import invalid, invalid_boolean, invalid_empty, invalid_integer, missing_param

_TOKEN = re.compile(r"\[([^\]]*)\]")


def _split(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    tokens = [head]
    if rest:
        tokens += _TOKEN.findall("[" + rest)
    return tokens


def _listify(node: Any) -> Any:
    # Dicts whose keys are all indexes came from ``x[0]`` / ``x[]`` and become lists.
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn form pairs into nested dicts and lists, as Stripe reads them."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        tokens = _split(key)
        node = root
        for i, token in enumerate(tokens):
            if token == "":  # "[]" appends
                token = str(len(node))
            if i == len(tokens) - 1:
                node[token] = value
            else:
                child = node.get(token)
                if not isinstance(child, dict):
                    child = {}
                    node[token] = child
                node = child
    return _listify(root)


def get_str(params: dict[str, Any], name: str, *, required: bool = False,
            allow_empty: bool = True, label: str | None = None) -> str | None:
    label = label or name
    if name not in params or params[name] is None:
        if required:
            raise missing_param(label)
        return None
    value = params[name]
    if not isinstance(value, str):
        raise invalid(label, f"Invalid string: {value!r}", code="parameter_invalid_string")
    if value == "" and (required or not allow_empty):
        raise invalid_empty(label)
    return value


MAX_URL_LENGTH = 5000


def get_url(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """An absolute http(s) URL, checked as Stripe checks redirect URLs (``url_invalid``)."""
    value = get_str(params, name, required=required)
    if not value:
        return None
    if len(value) > MAX_URL_LENGTH:
        raise invalid(name, f"Invalid URL: URL must be {MAX_URL_LENGTH} characters or less.",
                      code="url_invalid")
    try:
        parsed = urlsplit(value)
        ok = (parsed.scheme in ("http", "https") and bool(parsed.hostname)
              and not any(ch.isspace() or ord(ch) < 32 for ch in value))
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        raise invalid(name, "Not a valid URL", code="url_invalid")
    return value


def get_int(params: dict[str, Any], name: str, *, required: bool = False,
            label: str | None = None, minimum: int | None = None) -> int | None:
    label = label or name
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise missing_param(label) if raw is None else invalid_empty(label)
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid_integer(label, raw) from None
    if minimum is not None and value < minimum:
        raise invalid(label, f"This value must be greater than or equal to {minimum}.",
                      code="parameter_invalid_integer")
    return value


def get_bool(params: dict[str, Any], name: str, label: str | None = None) -> bool | None:
    raw = params.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "1"):
        return True
    if str(raw).lower() in ("false", "0"):
        return False
    raise invalid_boolean(label or name, raw)


def get_enum(params: dict[str, Any], name: str, choices: Iterable[str], *,
             required: bool = False, default: str | None = None,
             label: str | None = None) -> str | None:
    label = label or name
    value = get_str(params, name, required=required, allow_empty=False, label=label)
    if value is None:
        return default
    options = list(choices)
    if value not in options:
        raise invalid(label, f"Invalid {label}: must be one of {', '.join(options)}")
    return value


def get_dict(params: dict[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(name, f"Invalid hash: {name} must be a dictionary.",
                      code=None)
    return value


def get_list(params: dict[str, Any], name: str) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, dict):  # a single "x[key]" item
        return [value]
    if not isinstance(value, list):
        return [value]
    return value


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe merges metadata keys; an empty value (or empty metadata) unsets."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid("metadata", "Invalid hash", code=None)
    merged = dict(current)
    for key, value in update.items():
        if value in ("", None):
            merged.pop(key, None)
        else:
            merged[str(key)] = str(value)
    return merged
