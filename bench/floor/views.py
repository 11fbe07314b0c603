"""The floor's webhook: verify the Stripe-Signature, insert the event once, answer 200.

The product's check (HMAC-SHA256, constant-time compare) and one autocommit statement.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

TOLERANCE_SECONDS = 300
TABLE = "bench_floor_event"
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    event_id varchar(255) NOT NULL UNIQUE,
    type varchar(255) NOT NULL,
    created timestamptz NOT NULL,
    payload json NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = (
    f"INSERT INTO {TABLE} (event_id, type, created, payload) "
    "VALUES (%s, %s, to_timestamp(%s), %s::json) ON CONFLICT (event_id) DO NOTHING"
)


def _signed(body: bytes, header: str) -> bool:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        return False
    signed = str(timestamp).encode() + b"." + body
    secret = settings.FLOOR_WEBHOOK_SECRET.encode()
    expected = hmac.new(secret, signed, hashlib.sha256).hexdigest()
    matched = False
    for signature in signatures:
        matched |= hmac.compare_digest(expected, signature)
    return matched


def webhook(request: HttpRequest) -> JsonResponse:
    body = request.body
    if request.method != "POST" or not _signed(body, request.headers.get("Stripe-Signature", "")):
        return JsonResponse({"errors": [{"code": "bad_request"}]}, status=400)
    event = json.loads(body)
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [event["id"], event["type"], event["created"], body.decode()])
        inserted = cursor.rowcount == 1
    return JsonResponse({"received": True, "status": "processed" if inserted else "duplicate"})
