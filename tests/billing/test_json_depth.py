"""The nesting depth of a verified body, brackets inside strings aside, exactly.

``decode_json`` refuses a body nested deeper than 64 levels before ``json.loads``
runs. It is counted for every delivery, so it is counted the fast way when the body
allows it; these bodies check it still equals a plain character-by-character count.
"""

from __future__ import annotations

import json
import random

import pytest

from payments.services.signatures import MAX_JSON_DEPTH, WebhookRejected, decode_json, json_depth


def reference_depth(body: bytes) -> int:
    """Walk the bytes: outside strings, brackets open and close levels."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        char = chr(byte)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


BODIES = [
    b"",
    b"{}",
    b'{"a": [1, {"b": [[]]}]}',
    b'{"description": "brackets [[[ in a string {{ do not count"}',
    b'{"note": "an escaped quote \\" then [ still a string"}',
    b'{"path": "C:\\\\", "list": [[1]]}',  # an escaped backslash ends right before the quote
    b'["]]]", [["["]]]',
    b'{"a": "\\u005b"}',
]


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.choice(["list", "dict", "str", "num"] if depth < 12 else ["str", "num"])
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        return {f"k{n}": random_json(rng, depth + 1) for n in range(rng.randint(0, 3))}
    if kind == "str":
        return "".join(rng.choice('ab[]{}"\\ é') for _ in range(rng.randint(0, 6)))
    return rng.randint(-5, 5)


@pytest.mark.parametrize("body", BODIES)
def test_the_depth_is_counted_outside_strings(body):
    assert json_depth(body) == reference_depth(body)


@pytest.mark.parametrize("body", [b'{"unterminated": "[[[[', b"]]]][[", b'{"a": "b\\"}}'])
def test_malformed_bodies_are_refused_as_not_json(body):
    with pytest.raises(WebhookRejected, match="not valid JSON"):
        decode_json(body)


def test_random_bodies_with_brackets_quotes_and_escapes_in_their_strings():
    rng = random.Random(9)
    for _ in range(500):
        body = json.dumps(random_json(rng), ensure_ascii=rng.random() < 0.5).encode()
        assert json_depth(body) == reference_depth(body), body


def test_a_body_one_level_too_deep_is_refused_one_level_less_is_read():
    deep = b'{"a": "]]]", "b": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    assert json_depth(deep) == MAX_JSON_DEPTH
    assert decode_json(deep)["a"] == "]]]"
    deeper = deep.replace(b"[", b"[[", 1).replace(b"]}", b"]]}", 1)
    with pytest.raises(WebhookRejected, match="nests deeper than 64 levels"):
        decode_json(deeper)
