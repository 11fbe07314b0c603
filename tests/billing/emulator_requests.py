"""What the emulator was asked, seen from its side: one entry per Stripe API request.

``watch(handle)`` wraps the emulator application's ``dispatch`` (the emulator is
the test's stand-in for Stripe; the app under test is untouched). Hooks run
inside the emulator, before or after it handles a matching request, so a test
can make something happen at an exact point of a Stripe round trip.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.wrappers import Response


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    idempotency_key: str | None
    status: int


@dataclass
class Hook:
    method: str
    path: str  # a prefix
    when: str  # "before" or "after"
    run: Callable[[], None]
    once: bool = True


@dataclass
class RequestLog:
    seen: list[Seen] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    answers: list[tuple[str, str, int, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse_once(self, method: str, path: str, message: str, *, status: int = 400,
                    code: str | None = None) -> None:
        """The next matching request is refused with a Stripe error, without being run."""
        error = {"type": "invalid_request_error", "message": message}
        if code:
            error["code"] = code
        with self.lock:
            self.answers.append((method, path, status, {"error": error}))

    def _answer(self, method: str, path: str) -> Response | None:
        with self.lock:
            for entry in self.answers:
                if entry[0] == method and path.startswith(entry[1]):
                    self.answers.remove(entry)
                    return Response(json.dumps(entry[3]), status=entry[2],
                                    content_type="application/json")
        return None

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()

    def calls(self) -> list[str]:
        """``["POST /v1/checkout/sessions", …]`` since the last ``clear()``."""
        with self.lock:
            return [f"{s.method} {s.path}" for s in self.seen]

    def keys(self, method: str, path: str) -> list[str | None]:
        with self.lock:
            return [s.idempotency_key for s in self.seen
                    if s.method == method and s.path.startswith(path)]

    def on(self, method: str, path: str, when: str, run: Callable[[], None]) -> None:
        with self.lock:
            self.hooks.append(Hook(method, path, when, run))

    def _take(self, method: str, path: str, when: str) -> list[Hook]:
        with self.lock:
            due = [h for h in self.hooks
                   if h.when == when and h.method == method and path.startswith(h.path)]
            self.hooks = [h for h in self.hooks if h not in due or not h.once]
        return due


def watch(handle) -> RequestLog:
    """Start logging the Stripe API requests of an emulator started by ``start_in_thread``."""
    app = handle.emulator.app
    log = RequestLog()
    original = app.dispatch

    def dispatch(request):
        api = request.path.startswith("/v1/")
        if api:
            for hook in log._take(request.method, request.path, "before"):
                hook.run()
        response = (log._answer(request.method, request.path) if api else None) or \
            original(request)
        if api:
            with log.lock:
                log.seen.append(Seen(request.method, request.path,
                                     request.headers.get("Idempotency-Key"),
                                     response.status_code))
            for hook in log._take(request.method, request.path, "after"):
                hook.run()
        return response

    app.dispatch = dispatch
    return log
