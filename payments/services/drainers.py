"""Who drains the webhook inbox: a thread in each app process, or drain_webhooks.

Both wait for a batch to build while deliveries keep coming (docs/billing.md).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections

from ..models import WebhookEvent
from .inbox import CHANNEL, drain

logger = logging.getLogger("payments.webhooks")


# While deliveries keep coming, a batch builds for up to the batch delay; a look that
# finds none means the burst is over (or between waves): drain at once, not at the
# deadline. A small batch looks every 20 ms: on a slow host, 5 ms gaps come mid-burst
# and would cut batches to ~10 events, which cost half as much again per event as
# batches of 25. One already big enough looks every 5 ms: waiting for more would save
# little, and the end of a burst is applied ~15 ms sooner.
QUIET_SECONDS = 0.02
LOOK_SECONDS = 0.005
ENOUGH_EVENTS = 20


def _build_batch(arrived, waiting: int = 0) -> None:
    """Wait for up to STRIPE_WEBHOOK_BATCH_DELAY_MS, less once deliveries pause.

    ``arrived()``: how many deliveries came since it was last asked. It is asked once
    per look, not woken by each delivery: in a burst, a wake per delivery cost about a
    fifth of the drainer's CPU. ``waiting``: how many are known to wait already.
    """
    deadline = time.monotonic() + settings.STRIPE_WEBHOOK_BATCH_DELAY_MS / 1000
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(LOOK_SECONDS if waiting >= ENOUGH_EVENTS else QUIET_SECONDS, left))
        if not (came := arrived()):
            return
        waiting += came


def _announced(listener, timeout: float) -> bool:
    """Whether an event was announced (NOTIFY) within ``timeout`` seconds; consumes them all."""
    came = False
    for _ in listener.notifies(timeout=timeout, stop_after=1):
        came = True
        break  # (psycopg may hand over several at once, whatever stop_after says)
    if came:
        for _ in listener.notifies(timeout=0):  # the ones already here
            pass
    return came


def drain_forever(*, interval: float) -> None:
    """Drain whenever an event is announced (LISTEN), else every ``interval`` seconds
    (the failed events whose wait is over). For ``manage.py drain_webhooks --forever``.

    Outlives the database: when it goes away (a restart, a failover), the loop waits,
    connects again and drains what came meanwhile; the events stay stored.
    """
    while True:
        try:
            _listen_and_drain(interval)
        except (OperationalError, InterfaceError):
            logger.exception("webhook_drain_database_unavailable retry_in_s=%d",
                             RECONNECT_SECONDS)
            connections.close_all()
            time.sleep(RECONNECT_SECONDS)


RECONNECT_SECONDS = 2


def _listen_and_drain(interval: float) -> None:
    listener = connections.create_connection("default")
    # psycopg's errors on the listening connection raised as Django's, like the rest.
    errors = listener.wrap_database_errors
    try:
        with errors:
            listener.ensure_connection()
            listen(listener.connection)
        while True:
            close_old_connections()
            # Also what was stored while a burst's LISTEN took effect.
            drain()
            with errors:
                if _announced(listener.connection, interval):
                    drain_burst(listener.connection)
    finally:
        listener.close()


def listen(conn) -> None:
    conn.execute(f"LISTEN {CHANNEL}")


# The newest stored event: while it changes, deliveries keep coming.
_NEWEST_SQL = f'SELECT max("id") FROM "{WebhookEvent._meta.db_table}"'  # noqa: S608


def drain_burst(conn) -> None:
    """An event was announced: drain, batch after batch, until none came while a batch
    was applied (or a batch's build found none and the drain nothing); then listen
    again. The caller drains once more after it returns.

    Not listening meanwhile: a NOTIFY that reaches a listener costs the delivering and
    the listening backends about 15 µs of CPU each, for every delivery of the burst; a
    look at the newest event's ID every 5 or 20 ms costs far less. Safe: whatever is
    stored before the LISTEN takes effect, the caller's drain sees; whatever after, is
    announced.
    """
    conn.execute(f"UNLISTEN {CHANNEL}")
    newest = [0]

    # IDs come from one sequence, so the newest's step counts the new deliveries; near
    # enough (a refused insert takes an ID too): it only paces the looks, the drains
    # find every stored event.
    def arrived() -> int:
        seen, newest[0] = newest[0], conn.execute(_NEWEST_SQL).fetchone()[0] or 0
        return max(newest[0] - seen, 0)

    arrived()
    waiting = 0
    while True:
        _build_batch(arrived, waiting)
        close_old_connections()
        # None came while that batch was applied: the burst is over.
        if not drain() or not (waiting := arrived()):
            break
    for _ in conn.notifies(timeout=0):  # sent before the UNLISTEN: stale now
        pass
    listen(conn)


# --- The drainer thread --------------------------------------------------------------

class Drainer:
    """One thread per process that drains after a delivery, once a batch had time to build.

    Every process of every node runs one (``STRIPE_WEBHOOK_DRAIN_IN_WORKERS``); they
    share the queue through ``FOR UPDATE SKIP LOCKED``.
    """

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False
        self._arrivals = 0  # deliveries since the batch being built last looked

    def wake(self) -> None:
        with self._lock:
            self._arrivals += 1
            # A forked worker inherits the object, not the thread.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid, self._stopping = os.getpid(), False
                self._thread = threading.Thread(target=self._run, name="webhook-drainer",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        """End the thread (after its current drain) and close its connection."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping = True
        self._wake.set()
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(timeout)

    def _arrived(self) -> int:
        with self._lock:
            came, self._arrivals = self._arrivals, 0
        self._wake.clear()
        return came

    def _run(self) -> None:
        try:
            while True:
                # Woken by a delivery; or, idle, once a minute anyway: the failed events
                # whose wait is over are retried without a delivery (or drain_webhooks).
                if self._wake.wait(settings.STRIPE_WEBHOOK_IDLE_ROUND_SECONDS):
                    if self._stopping:
                        return
                    self._arrived()
                    _build_batch(self._arrived)
                self._wake.clear()  # a delivery from now on wakes the next round
                close_old_connections()
                try:
                    drain()
                except Exception:
                    # The events stay queued: the next delivery, or drain_webhooks, applies them.
                    logger.exception("webhook_drain_failed")
                    time.sleep(1)
                    self._wake.set()
        finally:
            connections.close_all()


DRAINER = Drainer()


def wake() -> None:
    """A delivery was stored: this process's drainer thread drains soon (if it runs one)."""
    if settings.STRIPE_WEBHOOK_DRAIN_IN_WORKERS:
        DRAINER.wake()
