"""Event ordering: which snapshot is newer, and Stripe's truth when the events cannot tell.

The algorithm is described in docs/billing.md, "Ordering algorithm".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import gateway
from ..models import StripeSettings, SubscriptionState


class NeedsStripe(Exception):
    """Only Stripe can settle this: roll back, ``StripeTruth.fetch``, apply again."""

    def __init__(self, subscription_id: str, *, seen: tuple | None = None,
                 at_least: int = 0) -> None:
        super().__init__(subscription_id)
        self.subscription_id = subscription_id
        self.seen = seen  # the state the fetch was decided on; None: a held subscription
        self.at_least = at_least


def _state_version(state: SubscriptionState) -> tuple:
    return (state.last_event_created, state.last_event_id, state.fetched_at, state.deleted)


@dataclass
class StripeTruth:
    """Subscriptions fetched from Stripe for one event, and when."""

    snapshots: dict[str, dict | None] = field(default_factory=dict)  # None: unknown to Stripe
    decided_on: dict[str, tuple] = field(default_factory=dict)
    marker: int = 0

    def fetch(self, need: NeedsStripe) -> None:
        """Ask Stripe. Call outside any transaction (the gateway refuses otherwise)."""
        # Webhooks keep members in sync even while checkout is switched off, so
        # only a secret key is needed here, not the "enabled" switch.
        config = StripeSettings.load()
        try:
            self.snapshots[need.subscription_id] = gateway.retrieve_subscription(
                need.subscription_id, config=config)
        except gateway.StripeInvalidRequest as exc:
            if need.seen is not None or not exc.is_missing:
                raise
            self.snapshots[need.subscription_id] = None
        if need.seen is not None:
            self.decided_on[need.subscription_id] = need.seen
            self.marker = fetch_marker(at_least=need.at_least)

    def current(self, state: SubscriptionState, at_least: int) -> dict:
        """The fetched snapshot of ``state``'s subscription if nothing was applied since."""
        subscription_id = state.subscription_id
        seen = _state_version(state)
        if self.decided_on.get(subscription_id) != seen:
            raise NeedsStripe(subscription_id, seen=seen, at_least=at_least)
        return self.snapshots[subscription_id]


def fetch_marker(*, at_least: int = 0) -> int:
    """A time (unix seconds, Stripe's clock) no earlier than any event existing now.

    Real time is enough against Stripe, whose clock is ours give or take NTP.
    But a clock can run ahead of ours (the emulator's ``advance``, Stripe test
    clocks), so Stripe's newest event time is read too and the later one wins.
    Too late a marker only costs extra fetches; too early a one would let a stale
    event through, so if Stripe cannot be asked, ``at_least`` (the event time at
    hand) is the floor. Call outside any transaction.
    """
    marker = max(int(time.time()), at_least)
    try:
        newest = gateway.newest_event_created(config=StripeSettings.load())
    except gateway.StripeError:
        return marker
    return max(marker, newest or 0)


def mark_fetched(state: SubscriptionState, marker: int) -> None:
    """Record that ``state`` holds a snapshot fetched from Stripe (the caller saves).

    ``marker`` comes from ``fetch_marker()`` read after the fetch."""
    state.fetched_at = max(state.fetched_at, marker)


def decide(state: SubscriptionState, created: int, event_id: str,
           is_deletion: bool) -> tuple[str, str | None]:
    """How the event stands against the state: ``(action, note)``.

    ``action`` is ``skip``, ``fetch`` or ``apply``.
    """
    if state.deleted:
        return "skip", ("Subscription already deleted." if is_deletion
                        else "Subscription already deleted; deletion is final.")
    if is_deletion:
        return "apply", None  # final whatever the order
    if created < state.last_event_created or (
        created == state.last_event_created and event_id == state.last_event_id
    ):
        return "skip", "Older than the state already applied; skipped."
    if created == state.last_event_created:
        # Same second as the last applied event: only Stripe knows which is newer.
        return "fetch", "Same-second events: applied the subscription as fetched from Stripe."
    if created <= state.fetched_at:
        # Not newer than a snapshot fetched from Stripe (reconcile, a tie): the
        # event's own snapshot may be stale, Stripe's current one is not.
        return "fetch", ("Not newer than the last snapshot fetched from Stripe: applied the "
                         "subscription as fetched from Stripe again.")
    return "apply", None
