"""Put the pieces together and serve them with werkzeug's threaded server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import EmulatorApp
from .faults import Faults
from .keys import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY
from .state import Store
from .webhooks import Dispatcher


@dataclass
class Emulator:
    store: Store
    dispatcher: Dispatcher
    faults: Faults
    app: EmulatorApp

    def shutdown(self) -> None:
        self.app.stopping.set()
        self.dispatcher.stop()
        self.store.save()


def build(state_path: str | os.PathLike[str] | None = None, *,
          secret_key: str = DEFAULT_SECRET_KEY,
          publishable_key: str = DEFAULT_PUBLISHABLE_KEY,
          webhook_max_attempts: int = 5, webhook_backoff: float = 1.0,
          webhook_timeout: float = 5.0, chaos_seed: int | None = None,
          allow_remote_webhooks: bool = False) -> Emulator:
    store = Store(state_path)
    dispatcher = Dispatcher(store, max_attempts=webhook_max_attempts, backoff=webhook_backoff,
                            timeout=webhook_timeout, chaos_seed=chaos_seed,
                            allow_remote=allow_remote_webhooks)
    faults = Faults()
    app = EmulatorApp(store, dispatcher, faults, secret_key=secret_key,
                      publishable_key=publishable_key,
                      allow_remote_webhooks=allow_remote_webhooks)
    return Emulator(store, dispatcher, faults, app)


class QuietRequestHandler(WSGIRequestHandler):
    """No per-request access log (tests make thousands of requests)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def serve(emulator: Emulator, host: str, port: int, *, quiet: bool = False,
          wsgi_app: Any = None) -> BaseWSGIServer:
    """``wsgi_app`` may wrap ``emulator.app`` (the test harness records answers that way)."""
    handler = QuietRequestHandler if quiet else WSGIRequestHandler
    return make_server(host, port, wsgi_app or emulator.app, threaded=True,
                       request_handler=handler)
