"""Apply the webhook events the inbox holds (STRIPE_WEBHOOK_QUEUE), once or for ever.

Beside the app processes' drainer threads, or instead of them with
STRIPE_WEBHOOK_DRAIN_IN_WORKERS off (the most throughput); it wakes on each stored event.
Once, it also applies what was queued before the inbox was turned off.
"""

from __future__ import annotations

import argparse
import math

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from payments.services import drainers, inbox


def _interval(value: str) -> float:
    """A period a drain may wait: not zero, negative or NaN (it would never wait)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0.1 <= seconds <= 3600:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds from 0.1 "
                                         "to 3600")
    return seconds


class Command(BaseCommand):
    help = "Apply the queued (and due failed) webhook events in batches."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--forever", action="store_true",
                            help="keep draining: as events arrive (LISTEN), and every "
                                 "--interval seconds for failed events whose wait is over")
        parser.add_argument("--interval", type=_interval, default=30.0,
                            help="seconds between rounds when nothing arrives (0.1 to 3600)")

    def handle(self, *args, forever: bool, interval: float, **options) -> None:
        if not settings.STRIPE_WEBHOOK_QUEUE:
            if forever or connection.vendor != "postgresql":  # (no inbox without it)
                raise CommandError("STRIPE_WEBHOOK_QUEUE is off: every event is applied as "
                                   "it is received, there is nothing to drain.")
            # Events stored before it was turned off were answered 200: Stripe will not
            # send them again, so they are applied here.
            self.stdout.write("STRIPE_WEBHOOK_QUEUE is off: draining what was queued before.")
        elif forever:
            self.stdout.write("Draining the webhook inbox as events arrive (Ctrl-C stops).")
            drainers.drain_forever(interval=interval)
            return
        done = inbox.drain()
        self.stdout.write(f"{done} webhook event(s) applied.")
