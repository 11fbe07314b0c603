"""Who drains the webhook inbox: a thread in each app process, or drain_webhooks.

Both wait for a batch to build while deliveries keep coming (docs/billing.md).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections

from .inbox import CHANNEL, drain

logger = logging.getLogger("payments.webhooks")


# While deliveries keep coming, a batch builds for up to the batch delay; a pause this
# long means the burst is over (or between waves): drain at once, not at the deadline.
# Not shorter: on a slow host, 5 ms gaps come mid-burst and cut batches to ~10 events.
QUIET_SECONDS = 0.02


def _build_batch(arrived) -> None:
    """Wait for up to STRIPE_WEBHOOK_BATCH_DELAY_MS, less once deliveries pause.

    ``arrived()``: whether a delivery came since it was last asked. It is asked once
    per quiet window, not woken by each delivery: in a burst, a wake per delivery
    cost about a fifth of the drainer's CPU.
    """
    deadline = time.monotonic() + settings.STRIPE_WEBHOOK_BATCH_DELAY_MS / 1000
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(QUIET_SECONDS, left))
        if not arrived():
            return


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


# --- The collector -------------------------------------------------------------------

_frozen_in: int | None = None  # the process (its PID) whose start-up heap was set aside


def freeze_startup_heap() -> bool:
    """Once per process, before its first drain: set every object alive now (modules,
    settings, Django's caches) aside from the collector; whether it did.

    They live as long as the process, yet each full pass of the collector walked them
    all: in the bench, 40 to 65 ms for about 100,000 objects every 2,000 or so events,
    about a tenth of the drain's CPU. What the batches make stays collected as before;
    a frozen object is still freed when nothing refers to it any more.
    """
    global _frozen_in
    if _frozen_in == os.getpid():
        return False
    _frozen_in = os.getpid()
    gc.collect()  # start-up's own garbage goes now, rather than staying for ever
    gc.freeze()
    return True


def drain_forever(*, interval: float) -> None:
    """Drain whenever an event is announced (LISTEN), else every ``interval`` seconds
    (the failed events whose wait is over). For ``manage.py drain_webhooks --forever``.

    Outlives the database: when it goes away (a restart, a failover), the loop waits,
    connects again and drains what came meanwhile; the events stay stored.
    """
    freeze_startup_heap()
    logger.info("webhook_drain_started frozen_objects=%d", gc.get_freeze_count())
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
            listener.connection.execute(f"LISTEN {CHANNEL}")
        while True:
            close_old_connections()
            drain()
            # Woken by the first announcement; then the batch builds while more come.
            with errors:
                if _announced(listener.connection, interval):
                    _build_batch(lambda: _announced(listener.connection, 0))
    finally:
        listener.close()


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

    def wake(self) -> None:
        with self._lock:
            # A forked worker inherits the object, not the thread.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid, self._stopping = os.getpid(), False
                self._thread = threading.Thread(target=self._run, name="webhook-drainer",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def running_here(self) -> bool:
        return (self._pid == os.getpid() and self._thread is not None
                and self._thread.is_alive())

    def stop(self, timeout: float = 10) -> None:
        """End the thread (after its current drain) and close its connection."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping = True
        self._wake.set()
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(timeout)

    def _woken(self, timeout: float) -> bool:
        came = self._wake.wait(timeout)
        self._wake.clear()
        return came

    def _run(self) -> None:
        freeze_startup_heap()
        try:
            while True:
                # Woken by a delivery; or, idle, once a minute anyway: the failed events
                # whose wait is over are retried without a delivery (or drain_webhooks).
                if self._wake.wait(settings.STRIPE_WEBHOOK_IDLE_ROUND_SECONDS):
                    if self._stopping:
                        return
                    self._wake.clear()
                    _build_batch(lambda: self._woken(0))
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


def start_with_the_process(**_signal) -> None:
    """``request_started``: a process's first request starts its drainer thread, which
    drains at once.

    What a restart left queued, and the failed events whose wait is over, then wait
    for no new delivery: any request starts it (a load balancer's health check).
    """
    if (settings.STRIPE_WEBHOOK_QUEUE and settings.STRIPE_WEBHOOK_DRAIN_IN_WORKERS
            and not DRAINER.running_here()):
        DRAINER.wake()
