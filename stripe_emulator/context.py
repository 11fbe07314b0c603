"""What a handler needs to know about the request that called it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .state import Store


@dataclass
class Ctx:
    store: Store
    base_url: str  # e.g. "http://127.0.0.1:12111", used for Checkout URLs
    request_id: str | None = None
    idempotency_key: str | None = None
    allow_remote_webhooks: bool = False  # the --allow-remote-webhooks flag

    @property
    def request(self) -> dict[str, Any]:
        """The ``request`` field of the events this request causes."""
        return {"id": self.request_id, "idempotency_key": self.idempotency_key}
