"""The shape a verified Stripe event must have before it is stored and applied."""

from __future__ import annotations

import re

from ..models import WEBHOOK_EVENTS
from .signatures import WebhookRejected, decode_json

# Bounds that keep a signed but malformed event out of the database layer: a
# ``created`` Python cannot turn into a datetime, strings longer than the
# columns (PostgreSQL refuses them), shapes the sync rules cannot read.
MAX_ID_LENGTH = 255
MAX_CREATED = 4102444800  # 2100-01-01T00:00:00Z
# A NUL character, which PostgreSQL stores in no text: JSON's \u0000 escape, the
# backslash not itself escaped (an odd run of them). The body is stored as sent, so it
# is refused here, the same on every database.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# A surrogate escape (\ud800-\udfff). Stripe's events hold UTF-8 as it is, so one
# is rare; when there is one, the decoded strings are looked at: a pair decodes to one
# character, a lone half stays, and no database encoding holds it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _is_id(value: object, prefix: str) -> bool:
    return (isinstance(value, str) and value.startswith(prefix)
            and len(value) <= MAX_ID_LENGTH)


def _check_subscription(obj: object) -> None:
    """The parts of a subscription object the sync rules read must have Stripe's shape."""
    if not isinstance(obj, dict) or not _is_id(obj.get("id"), "sub_"):
        raise WebhookRejected("Event has no data.object subscription (an id sub_…).")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if customer is not None and not _is_id(customer, "cus_"):
        raise WebhookRejected("data.object.customer is not a customer id (cus_…).")
    status = obj.get("status")
    if status is not None and (not isinstance(status, str) or len(status) > 32):
        raise WebhookRejected("data.object.status is not a subscription status.")
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise WebhookRejected("data.object.metadata is not an object.")
    if "items" not in obj:
        return
    items = obj["items"]
    if not isinstance(items, dict) or not isinstance(items.get("data"), list):
        raise WebhookRejected("data.object.items is not a list object with data.")
    for item in items["data"]:
        if not isinstance(item, dict):
            raise WebhookRejected("data.object.items.data holds something not an item.")
        price = item.get("price")
        if isinstance(price, dict):
            price = price.get("id")
        # Any non-empty string: legacy plans have IDs of their owner's choosing.
        if not (isinstance(price, str) and 0 < len(price) <= MAX_ID_LENGTH):
            raise WebhookRejected("A subscription item has no price id.")
        period_end = item.get("current_period_end")
        if period_end is not None and not _is_timestamp(period_end):
            raise WebhookRejected("A subscription item's current_period_end is not a time.")
    # The times the sync copies onto the subscription's state (null or 0: none).
    for name in ("current_period_end", "created", "cancel_at", "trial_end"):
        value = obj.get(name)
        if value not in (None, 0) and not _is_timestamp(value):
            raise WebhookRejected(f"data.object.{name} is not a time.")


def _is_timestamp(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < MAX_CREATED


def _holds_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(map(_holds_lone_surrogate, value)) or any(
            map(_holds_lone_surrogate, value.values()))
    if isinstance(value, list):
        return any(map(_holds_lone_surrogate, value))
    return False


def parse_event(body: bytes) -> dict:
    """The event in a verified body, if it has the shape this site can store and apply.

    The messages never repeat the body's values: they end up in logs.
    """
    event = decode_json(body)
    if not isinstance(event, dict):
        raise WebhookRejected("Body is not a JSON object.")
    if (b"u0000" in body and _NUL_ESCAPE.search(body)) or (
            _SURROGATE_ESCAPE.search(body) and _holds_lone_surrogate(event)):
        raise WebhookRejected("The event holds a value the database cannot store.")
    for name in ("id", "type"):
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise WebhookRejected(f"Event has no {name}.")
        if len(value) > MAX_ID_LENGTH:
            raise WebhookRejected(f"Event {name} is longer than {MAX_ID_LENGTH} characters.")
    if not isinstance(event.get("created"), int) or isinstance(event["created"], bool):
        raise WebhookRejected("Event has no created timestamp.")
    if not _is_timestamp(event["created"]):
        raise WebhookRejected("Event created timestamp is out of range.")
    if event["type"] in WEBHOOK_EVENTS:
        data = event.get("data")
        _check_subscription(data.get("object") if isinstance(data, dict) else None)
    return event
