"""Run the emulator in a background thread, for tests and scripts.

    with start_in_thread(webhook_backoff=0.05) as emu:
        client = stripe.StripeClient(emu.secret_key, base_addresses={"api": emu.url})
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer

from .server import Emulator, build, serve


class Recorder:
    """WSGI middleware that keeps every JSON answer the emulator sends while recording."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.answers: list[tuple[str, str, Any]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.answers is None:
            return self.app(environ, start_response)
        seen: dict[str, bool] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["json"] = any(k.lower() == "content-type" and v.startswith("application/json")
                               for k, v in headers)
            return start_response(status, headers, exc_info)

        body = b"".join(self.app(environ, start))
        if seen.get("json") and body:
            with self.lock:
                if self.answers is not None:
                    self.answers.append((environ["REQUEST_METHOD"], environ["PATH_INFO"],
                                         json.loads(body)))
        return [body]


@dataclass
class EmulatorHandle:
    url: str
    secret_key: str
    publishable_key: str
    emulator: Emulator
    server: BaseWSGIServer
    thread: threading.Thread
    recorder: Recorder
    _stopped: bool = field(default=False, repr=False)

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[str, str, Any]]]:
        """Collect (method, path, JSON body) of every answer sent inside the block."""
        answers: list[tuple[str, str, Any]] = []
        self.recorder.answers = answers
        try:
            yield answers
        finally:
            self.recorder.answers = None

    # Conveniences for tests; each is one call to an /_emulator endpoint.
    def advance(self, seconds: float) -> int:
        response = requests.post(f"{self.url}/_emulator/advance", data={"seconds": seconds},
                                 timeout=30)
        response.raise_for_status()
        return int(response.json()["now"])

    def drain(self, timeout: float = 10.0) -> int:
        return self.emulator.dispatcher.drain(timeout)

    def now(self) -> int:
        return self.emulator.store.now()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.emulator.shutdown()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(host: str = "127.0.0.1", port: int = 0,
                    state_path: str | os.PathLike[str] | None = None,
                    **options: Any) -> EmulatorHandle:
    """Start an emulator on ``host:port`` (0 picks a free port). ``options`` go to
    ``server.build``: secret_key, publishable_key, webhook_max_attempts, webhook_backoff,
    webhook_timeout, chaos_seed (makes chaos delivery's shuffling repeatable),
    allow_remote_webhooks (accept webhook URLs other than loopback and localhost)."""
    emulator = build(state_path, **options)
    recorder = Recorder(emulator.app)
    server = serve(emulator, host, port, quiet=True, wsgi_app=recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True, name="stripe-emulator")
    thread.start()
    return EmulatorHandle(
        url=f"http://{host}:{server.server_port}",
        secret_key=emulator.app.secret_key,
        publishable_key=emulator.app.publishable_key,
        emulator=emulator, server=server, thread=thread, recorder=recorder,
    )
