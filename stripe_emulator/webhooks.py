"""Signed webhook delivery in the background, with retries, ordering and optional chaos.

Each endpoint has its own worker thread and FIFO queue, so the events of one object reach an
endpoint in the order they happened, and a slow endpoint never delays another one or an API
call. With chaos on, a worker gathers events for a short window, shuffles them and sends each
one twice.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.util import parse_url

from .state import Store

log = logging.getLogger("stripe_emulator.webhooks")
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
CHAOS_WINDOW = 0.3  # seconds to gather events before shuffling them


REMOTE_REFUSED = (
    "Invalid URL: the emulator sends webhooks only to loopback addresses (127.0.0.0/8, [::1]) "
    "and localhost. Start it with --allow-remote-webhooks to send them elsewhere."
)

NOT_SENT = "not allowed: the host is not loopback (see --allow-remote-webhooks)"


def _is_loopback(host: str | None) -> bool:
    """A literal loopback address or the name ``localhost``; never another name."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _resolves_to_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(_is_loopback(str(info[4][0])) for info in infos)


def url_refusal(url: str, *, allow_remote: bool, resolve: bool = False) -> str | None:
    """Why webhooks may not go to ``url`` (None when they may).

    Both URL parsers in play (the standard library's and urllib3's, which ``requests`` uses
    to connect) must see the same loopback host, and a URL with user info is refused, so
    that no parser trick reaches another host. ``resolve`` (at delivery) also checks that
    ``localhost`` resolves only to loopback addresses.
    """
    if allow_remote:
        return None
    try:
        ours, theirs = urlsplit(url), parse_url(url)
    except ValueError:
        return REMOTE_REFUSED
    if ours.username is not None or theirs.auth or "\\" in url:
        return REMOTE_REFUSED
    if not (_is_loopback(ours.hostname) and _is_loopback(theirs.host)):
        return REMOTE_REFUSED
    if resolve and ours.hostname == "localhost" and not _resolves_to_loopback("localhost"):
        return REMOTE_REFUSED
    return None


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header: ``t=<unix>,v1=<HMAC-SHA256 of "t.payload">``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass
class _Job:
    event: dict[str, Any]
    endpoint_id: str


@dataclass
class _Lane:
    queue: deque[_Job] = field(default_factory=deque)
    thread: threading.Thread | None = None


class Dispatcher:
    def __init__(self, store: Store, *, max_attempts: int = 5, backoff: float = 1.0,
                 timeout: float = 5.0, chaos_seed: int | None = None,
                 allow_remote: bool = False) -> None:
        self.store = store
        self.allow_remote = allow_remote
        # Its own source, so a seed makes chaos shuffles repeatable (tests, bug reports).
        self._random = random.Random(chaos_seed)  # noqa: S311 - shuffles test deliveries
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.timeout = timeout
        self._cond = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._pending = 0  # jobs queued or in flight
        self._stop = threading.Event()
        store.listeners.append(self.enqueue)

    # -- public ------------------------------------------------------------------------------

    def enqueue(self, event: dict[str, Any], endpoint_ids: list[str]) -> None:
        with self._cond:
            for endpoint_id in endpoint_ids:
                lane = self._lanes.setdefault(endpoint_id, _Lane())
                lane.queue.append(_Job(event, endpoint_id))
                self._pending += 1
                if lane.thread is None or not lane.thread.is_alive():
                    lane.thread = threading.Thread(
                        target=self._work, args=(endpoint_id,), daemon=True,
                        name=f"webhooks-{endpoint_id}")
                    lane.thread.start()
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return self._pending

    def drain(self, timeout: float = 30.0) -> int:
        """Block until nothing is queued or in flight (or the timeout); return what is left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._pending

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    # -- worker ------------------------------------------------------------------------------

    def _work(self, endpoint_id: str) -> None:
        while not self._stop.is_set():
            with self._cond:
                lane = self._lanes[endpoint_id]
                while not lane.queue and not self._stop.is_set():
                    if not self._cond.wait(timeout=5.0) and not lane.queue:
                        lane.thread = None  # idle: let the thread end; enqueue starts another
                        return
                if self._stop.is_set():
                    return
            if self._chaos(endpoint_id):
                self._stop.wait(CHAOS_WINDOW)
            with self._cond:
                batch = list(lane.queue) if self._chaos(endpoint_id) else [lane.queue[0]]
                for _ in batch:
                    lane.queue.popleft()
            if len(batch) > 1 or self._chaos(endpoint_id):
                sends = [job for job in batch for _ in range(2)]
                self._random.shuffle(sends)
                copies: dict[str, int] = {}
                for job in sends:
                    copies[job.event["id"]] = copies.get(job.event["id"], 0) + 1
                    self._deliver(job, copy_number=copies[job.event["id"]])
            else:
                self._deliver(batch[0], copy_number=1)
            for job in batch:
                self.store.webhook_done(job.event["id"])
            with self._cond:
                self._pending -= len(batch)
                self._cond.notify_all()

    def _chaos(self, endpoint_id: str) -> bool:
        return bool(self.store.private["chaos"].get(endpoint_id))

    def _deliver(self, job: _Job, copy_number: int) -> bool:
        payload = json.dumps(job.event, indent=2)
        for attempt in range(1, self.max_attempts + 1):
            endpoint = self.store.get("webhook_endpoint", job.endpoint_id)
            secret = self.store.private["endpoint_secrets"].get(job.endpoint_id)
            if endpoint is None or secret is None or endpoint["status"] != "enabled":
                return False  # deleted or disabled meanwhile: Stripe stops sending
            refusal = url_refusal(endpoint["url"], allow_remote=self.allow_remote,
                                  resolve=True)
            if refusal:
                status, error = None, NOT_SENT
            else:
                status, error = self._post(endpoint["url"], payload, secret)
            self.store.record_delivery({
                "event": job.event["id"], "event_type": job.event["type"],
                "endpoint": job.endpoint_id, "url": endpoint["url"], "attempt": attempt,
                "copy": copy_number, "status": status, "error": error,
                "ok": status is not None and 200 <= status < 300,
                "time": time.time(), "emulator_time": self.store.now(),
            })
            if status is not None and 200 <= status < 300:
                return True
            if refusal:
                return False  # a retry would be refused again
            if attempt < self.max_attempts and self._stop.wait(
                    self.backoff * 2 ** (attempt - 1)):
                return False
        return False

    def _post(self, url: str, payload: str, secret: str) -> tuple[int | None, str | None]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            # Real wall-clock time, so receivers with a 300 s tolerance accept it even when
            # the emulator's clock was advanced.
            "Stripe-Signature": sign(payload, secret),
        }
        try:
            response = requests.post(url, data=payload.encode("utf-8"), headers=headers,
                                     timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            return None, "timeout"
        except requests.RequestException as exc:
            return None, f"connection error: {type(exc).__name__}"
        return response.status_code, None if response.ok else f"HTTP {response.status_code}"
