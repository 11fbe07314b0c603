"""The emulator's store: one RLock, id generation, the clock, events and JSON persistence.

Every mutation runs inside ``store.transaction()``. Objects are stored and returned as deep
copies, so no request ever sees another request's half-built object.

Rollback: a transaction that ends with an exception puts the state back as it was when it
began and drops the events it recorded. The snapshot is shallow (a copy of each table's
``{id: object}`` mapping, of each private mapping and of the delivery log), which costs a few
pointer copies per object instead of a deep copy of everything. That is enough because
stored values are never changed in place: writers always replace a whole value (``put``,
``table[key] = ...``, ``pop``). Only the outermost transaction takes a snapshot, plus any
opened with ``savepoint=True`` (the API does so around each handler, whose errors are caught
inside the idempotency transaction).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import secrets
import string
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import API_VERSION

KINDS = (
    "customer", "product", "price", "checkout.session", "subscription",
    "invoice", "webhook_endpoint", "event", "payment_method",
    "billing_portal.configuration", "billing_portal.session",
)
log = logging.getLogger("stripe_emulator.state")
_ALPHABET = string.ascii_letters + string.digits
MAX_DELIVERY_LOG = 5000

EventListener = Callable[[dict[str, Any], list[str]], None]


def _fresh() -> dict[str, Any]:
    return {
        "clock_offset": 0.0,
        "objects": {kind: {} for kind in KINDS},
        "private": {
            "cards": {},          # pm_ id -> card details and test behaviour
            "endpoint_secrets": {},  # we_ id -> whsec_
            "chaos": {},          # we_ id -> bool
            "session_lines": {},  # cs_ id -> [{"price", "quantity"}]
            "idempotency": {},    # "<api key>|<key>" -> cached response
            "portal": {},         # bps_ id -> {"csrf": token} for the hosted portal page
            "invoice_pages": {},  # hosted invoice token -> in_ id
            "account_id": "acct_1Kuroco" + random_token(9),
        },
        "deliveries": [],
    }


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Store:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self._depth = 0
        self._outbox: list[tuple[dict[str, Any], list[str]]] = []
        self._dirty = False
        self.listeners: list[EventListener] = []
        # Where the emulator is reached; links in objects (hosted invoices) start with it.
        self.base_url = "http://127.0.0.1:12111"
        self.data = self._load()

    # -- persistence -------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        if self.path and self.path.exists() and self.path.stat().st_size:
            with self.path.open(encoding="utf-8") as fh:
                data = json.load(fh)
            fresh = _fresh()
            for kind in KINDS:  # tolerate files written by an older emulator
                data["objects"].setdefault(kind, {})
            for key, value in fresh["private"].items():
                data["private"].setdefault(key, value)
            data.setdefault("deliveries", [])
            offset = data.get("clock_offset")
            if not isinstance(offset, (int, float)) or not math.isfinite(offset):
                # A file written before the clock refused NaN/inf: that clock is unusable.
                log.warning("state file %s has an invalid clock offset %r; reset to 0",
                            self.path, offset)
                data["clock_offset"] = 0.0
            return data
        return _fresh()

    def save(self) -> None:
        """Write atomically (temp file + os.replace) so a crash never leaves half a file."""
        if not self.path:
            return
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".emulator-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(self.data, fh)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    @contextmanager
    def transaction(self, *, savepoint: bool = False) -> Iterator[Store]:
        """Hold the lock for a whole change; persist and announce events once, at the end.

        If the block raises, the outermost transaction (or a ``savepoint``) restores the
        state it started from and forgets the events recorded since, so a failed request
        never leaves half a change behind (nor a bad value that breaks later requests).
        """
        outbox: list[tuple[dict[str, Any], list[str]]] = []
        try:
            with self.lock:
                snapshot = self._snapshot() if savepoint or self._depth == 0 else None
                outbox_mark, dirty_before = len(self._outbox), self._dirty
                self._depth += 1
                try:
                    yield self
                except BaseException:
                    if snapshot is not None:
                        self._restore(snapshot)
                        del self._outbox[outbox_mark:]
                        self._dirty = dirty_before
                    raise
                finally:
                    self._depth -= 1
                    if self._depth == 0:
                        outbox, self._outbox = self._outbox, []
                        if self._dirty:
                            self._dirty = False
                            self.save()
        finally:
            # Listeners (webhook delivery) run outside the lock: they only enqueue work.
            for event, endpoints in outbox:
                for listener in self.listeners:
                    listener(event, endpoints)

    def _snapshot(self) -> dict[str, Any]:
        data = self.data
        return {
            "clock_offset": data["clock_offset"],
            "objects": {kind: dict(table) for kind, table in data["objects"].items()},
            "private": {key: dict(value) if isinstance(value, dict) else value
                        for key, value in data["private"].items()},
            "deliveries": list(data["deliveries"]),
        }

    def _restore(self, snapshot: dict[str, Any]) -> None:
        # In place: callers may hold references to these dicts (e.g. the idempotency cache).
        data = self.data
        data["clock_offset"] = snapshot["clock_offset"]
        for kind, table in snapshot["objects"].items():
            data["objects"][kind].clear()
            data["objects"][kind].update(table)
        for key, value in snapshot["private"].items():
            current = data["private"].get(key)
            if isinstance(value, dict) and isinstance(current, dict):
                current.clear()
                current.update(value)
            else:
                data["private"][key] = value
        data["deliveries"][:] = snapshot["deliveries"]

    def touch(self) -> None:
        self._dirty = True

    # -- clock and ids -------------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time() + self.data["clock_offset"])

    def advance_clock(self, seconds: float) -> int:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"cannot advance the clock by {seconds!r} seconds")
        with self.transaction():
            self.data["clock_offset"] += float(seconds)
            self.touch()
            return self.now()

    def new_id(self, prefix: str, length: int = 24) -> str:
        with self.lock:
            while True:
                candidate = prefix + random_token(length)
                if not self._find(candidate):
                    return candidate

    @property
    def private(self) -> dict[str, Any]:
        return self.data["private"]

    # -- objects -----------------------------------------------------------------------------

    def _find(self, object_id: str) -> bool:
        return any(object_id in table for table in self.data["objects"].values())

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.data["objects"][kind].get(object_id)
            return copy.deepcopy(obj) if obj is not None else None

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace; new objects go to the end (lists read newest first)."""
        with self.transaction():
            self.data["objects"][kind][obj["id"]] = copy.deepcopy(obj)
            self.touch()
            return copy.deepcopy(obj)

    def delete(self, kind: str, object_id: str) -> None:
        with self.transaction():
            self.data["objects"][kind].pop(object_id, None)
            self.touch()

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every object of a kind, newest first, as copies."""
        with self.lock:
            return [copy.deepcopy(o) for o in reversed(self.data["objects"][kind].values())]

    # -- events ------------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        request: dict[str, Any] | None = None,
        previous_attributes: dict[str, Any] | None = None,
        created: int | None = None,
    ) -> dict[str, Any]:
        """Record an event holding a snapshot of ``obj``; delivery starts after the commit."""
        with self.transaction():
            endpoints = [
                we["id"] for we in self.data["objects"]["webhook_endpoint"].values()
                if we["status"] == "enabled" and endpoint_wants(we, event_type)
            ]
            data: dict[str, Any] = {"object": copy.deepcopy(obj)}
            if previous_attributes is not None:
                data["previous_attributes"] = copy.deepcopy(previous_attributes)
            event = {
                "id": self.new_id("evt_"),
                "object": "event",
                "api_version": API_VERSION,
                "created": created if created is not None else self.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": len(endpoints),
                "request": request or {"id": None, "idempotency_key": None},
                "type": event_type,
            }
            self.data["objects"]["event"][event["id"]] = event
            self.touch()
            self._outbox.append((copy.deepcopy(event), endpoints))
            return copy.deepcopy(event)

    def webhook_done(self, event_id: str) -> None:
        """One endpoint finished with an event (delivered or gave up)."""
        with self.transaction():
            events = self.data["objects"]["event"]
            event = events.get(event_id)
            if event and event["pending_webhooks"] > 0:
                # A new dict, not an in-place change: rollback snapshots are shallow.
                events[event_id] = {**event, "pending_webhooks": event["pending_webhooks"] - 1}
                self.touch()

    def record_delivery(self, attempt: dict[str, Any]) -> None:
        with self.transaction():
            log = self.data["deliveries"]
            log.append(dict(attempt))
            del log[:-MAX_DELIVERY_LOG]
            self.touch()

    def deliveries(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.data["deliveries"])


def endpoint_wants(endpoint: dict[str, Any], event_type: str) -> bool:
    events = endpoint.get("enabled_events") or []
    return "*" in events or event_type in events
