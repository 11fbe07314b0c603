"""Decode Stripe's nested form encoding (``a[b][0][c]=v``, ``expand[]=x``) and read typed values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .errors import (
    StripeError,
    invalid,
    invalid_boolean,
    invalid_empty,
    invalid_integer,
    missing_param,
)
from .limits import (
    MAX_DEPTH,
    MAX_INTEGER,
    MAX_PARAMS,
    MAX_STRING_LENGTH,
    check_integer,
    check_metadata,
    check_string,
    shorten,
)

# A name, then any number of "[token]" (empty for "append"); brackets never nest.
_NAME = re.compile(r"[^\[\]]+((?:\[[^\[\]]*\])*)")
_TOKEN = re.compile(r"\[([^\]]*)\]")


def malformed(message: str, name: str | None = None) -> StripeError:
    return invalid(shorten(name, 60) if name else None, message)


def _split(key: str) -> list[str]:
    match = _NAME.fullmatch(key)
    if match is None:
        raise malformed(f"Invalid parameter name: '{shorten(key, 60)}'. Names look like "
                        "`a`, `a[b]` or `a[]`.", key)
    tokens = [key[:match.start(1)], *_TOKEN.findall(match.group(1))]
    if len(tokens) > MAX_DEPTH:
        raise malformed(f"Invalid parameter name: '{shorten(key, 60)}' is nested more than "
                        f"{MAX_DEPTH} levels deep.", key)
    return tokens


def _listify(node: Any) -> Any:
    # Dicts whose keys are all indexes came from ``x[0]`` / ``x[]`` and become lists.
    # The recursion is bounded by MAX_DEPTH.
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn form pairs into nested dicts and lists, as Stripe reads them.

    Malformed names, too deep nesting, too many pairs and a name used both for a value and
    for a hash are refused with a 400 before anything is built.
    """
    pairs = list(pairs)
    if len(pairs) > MAX_PARAMS:
        raise malformed(f"Too many parameters: {len(pairs)} (at most {MAX_PARAMS}).")
    root: dict[str, Any] = {}
    for key, value in pairs:
        tokens = _split(key)
        node = root
        for i, token in enumerate(tokens):
            if token == "":  # "[]" appends
                token = str(len(node))
            if i == len(tokens) - 1:
                if isinstance(node.get(token), dict):
                    raise _conflict(tokens[: i + 1])
                node[token] = value
            else:
                child = node.setdefault(token, {})
                if not isinstance(child, dict):
                    raise _conflict(tokens[: i + 1])
                node = child
    return {k: _listify(v) for k, v in root.items()}


def _conflict(tokens: list[str]) -> StripeError:
    name = tokens[0] + "".join(f"[{t}]" for t in tokens[1:])
    return malformed(f"Invalid hash: '{shorten(name, 60)}' was given both a value and "
                     "nested parameters.", name)


def get_str(params: dict[str, Any], name: str, *, required: bool = False,
            allow_empty: bool = True, label: str | None = None,
            max_length: int | None = MAX_STRING_LENGTH) -> str | None:
    label = label or name
    if name not in params or params[name] is None:
        if required:
            raise missing_param(label)
        return None
    value = params[name]
    if not isinstance(value, str):
        raise invalid(label, f"Invalid string: {shorten(repr(value), 60)}",
                      code="parameter_invalid_string")
    if value == "" and (required or not allow_empty):
        raise invalid_empty(label)
    if max_length is not None:
        check_string(value, label, max_length)
    return value


MAX_URL_LENGTH = 5000


def get_url(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """An absolute http(s) URL, checked as Stripe checks redirect URLs (``url_invalid``)."""
    value = get_str(params, name, required=required, max_length=None)
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
            label: str | None = None, minimum: int | None = None,
            maximum: int = MAX_INTEGER) -> int | None:
    label = label or name
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise missing_param(label) if raw is None else invalid_empty(label)
        return None
    if not isinstance(raw, str) or len(raw) > 30:  # no 64-bit integer is that long
        raise invalid_integer(label, shorten(str(raw), 30))
    try:
        value = int(raw)
    except ValueError:
        raise invalid_integer(label, raw) from None
    return check_integer(value, label, minimum=minimum, maximum=maximum)


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


def merge_metadata(current: dict[str, str], update: Any,
                   label: str = "metadata") -> dict[str, str]:
    """Stripe merges metadata keys; an empty value (or empty metadata) unsets."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid(label, "Invalid hash", code=None)
    merged = dict(current)
    for key, value in update.items():
        if value in ("", None):
            merged.pop(key, None)
        elif not isinstance(value, str):
            raise invalid(f"{label}[{shorten(str(key), 40)}]",
                          "Invalid string: metadata values must be strings.",
                          code="parameter_invalid_string")
        else:
            merged[str(key)] = value
    return check_metadata(merged, label)
