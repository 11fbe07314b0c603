"""Stripe settings, the webhook event log, per-subscription ordering state, checkout intents."""

from __future__ import annotations

import copy
import threading

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .crypto import configured_keys
from .fields import EncryptedTextField, VerbatimJSONField

WEBHOOK_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


class StripeSettings(models.Model):
    """The single "External system integration → Stripe" record (pk is always 1)."""

    enabled = models.BooleanField("status", default=False, help_text="Enabled when checked.")
    publishable_key = models.CharField(max_length=255, blank=True)
    secret_key = EncryptedTextField(blank=True)
    webhook_secret = EncryptedTextField(blank=True)
    # During a roll, Stripe signs with both secrets until the old one expires.
    previous_webhook_secret = EncryptedTextField(blank=True)
    previous_webhook_secret_expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Stripe"
        verbose_name_plural = "Stripe"

    def __str__(self) -> str:
        return "Stripe"

    @sensitive_variables()
    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)
        type(self).clear_cache()

    # Per process: the last row read, decrypted. Every reader checks the row's
    # ``updated_at`` (one tiny query, or a column folded into a query it makes
    # anyway), so a save in any worker of any node is seen by the next request.
    # A post_save signal alone would clear only the process that saved (the
    # trap of django.contrib.sites' SITE_CACHE).
    # The encryption keys are part of the cache's key: a copy decrypted with other
    # keys (a settings change in tests, a rotation) is never handed out.
    _cached: tuple[tuple, StripeSettings] | None = None
    _cache_lock = threading.Lock()

    @classmethod
    def load(cls) -> StripeSettings:
        """The settings, decrypted once per change rather than once per call."""
        version = cls.objects.filter(pk=1).values_list("updated_at", flat=True).first()
        return cls.load_if_changed(version)

    @classmethod
    def load_if_changed(cls, version) -> StripeSettings:
        """The cached settings if ``version`` (the row's ``updated_at``) is theirs, else read."""
        cached = cls.cached(shared=True)
        if cached is None or version is None or cached.updated_at != version:
            cached, _ = cls.objects.get_or_create(pk=1)
            with cls._cache_lock:
                cls._cached = (tuple(configured_keys()), cached)
        return copy.copy(cached)  # callers may change their copy; the cache stays

    @classmethod
    def cached(cls, *, shared: bool = False) -> StripeSettings | None:
        """The last settings read by this process, unchecked (check with ``load_if_changed``).

        A copy, or with ``shared`` the cached object itself, for a caller that only reads it.
        """
        entry = cls._cached
        if entry is None or entry[0] != tuple(configured_keys()):
            return None
        return entry[1] if shared else copy.copy(entry[1])

    @classmethod
    def clear_cache(cls) -> None:
        with cls._cache_lock:
            cls._cached = None

    @property
    @sensitive_variables()
    def livemode(self) -> bool | None:
        """True for live keys, False for test keys, None when no key is set."""
        key = self.publishable_key or self.secret_key
        if not key:
            return None
        return "_live_" in key

    @property
    def mode_label(self) -> str:
        return {True: "LIVE", False: "TEST", None: "—"}[self.livemode]

    @sensitive_variables()
    def webhook_secrets(self, now=None) -> list[str]:
        """Secrets a webhook signature may be made with, current first."""
        now = now or timezone.now()
        secrets = [self.webhook_secret] if self.webhook_secret else []
        if (
            self.previous_webhook_secret
            and self.previous_webhook_secret_expires_at
            and self.previous_webhook_secret_expires_at > now
        ):
            secrets.append(self.previous_webhook_secret)
        return secrets


class WebhookEvent(models.Model):
    """Every verified Stripe event, stored once by its ID."""

    class Status(models.TextChoices):
        # Stored and answered, not applied yet (STRIPE_WEBHOOK_QUEUE: a drain applies it).
        RECEIVED = "received", "Received, not applied yet"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    # Unique by the constraint below: a plain unique index, no second one for LIKE.
    event_id = models.CharField("event ID", max_length=255)
    type = models.CharField(max_length=255)
    created = models.DateTimeField("created at Stripe")
    livemode = models.BooleanField(default=False)
    # The body as Stripe sent it (json, not jsonb, on PostgreSQL: fields.VerbatimJSONField).
    payload = VerbatimJSONField()
    status = models.CharField(max_length=16, choices=Status.choices)
    # Why processing failed (failures only); Stripe retries a failed event.
    error = models.TextField(blank=True)
    # How a processed or ignored event was settled, e.g. "Older than the state
    # already applied; skipped."
    note = models.TextField(blank=True)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_events",
    )
    attempts = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # While a drain applies it by the one-event path, after the claim's transaction
    # (Stripe must be asked, or its batch failed): other drains leave it until then.
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook event"
        verbose_name_plural = "webhook events"
        ordering = ["-received_at", "-id"]
        # Few indexes: every delivery writes one row, and the inbox's drain rewrites it.
        # Only the unsettled rows are found by status, each status by its own index: the
        # drain reads the head of each in order (services.inbox); the settled rows are
        # most of the table, where an index would not help.
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="webhook_event_unique_id"),
        ]
        indexes = [
            models.Index(fields=["id"], name="webhook_event_received",
                         condition=models.Q(status="received")),
            models.Index(fields=["id"], name="webhook_event_failed",
                         condition=models.Q(status="failed")),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"


class SubscriptionState(models.Model):
    """The last Stripe state applied for one subscription.

    Webhooks come late, twice and out of order; this row is what lets an older
    snapshot be recognised and skipped, and a deletion stay final.
    """

    # Unique by the constraint below: a plain unique index, no second one for LIKE.
    subscription_id = models.CharField(max_length=255)
    customer_id = models.CharField(max_length=255, blank=True)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subscription_states",
    )
    status = models.CharField(max_length=32, blank=True)
    price_ids = models.JSONField(default=list)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # The cancellation schedule and trial, as the member's ``subscription`` answer gives them.
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_at = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField("created at Stripe", null=True, blank=True)
    # Unix seconds of the newest event applied, and its id for tie detection.
    last_event_created = models.BigIntegerField(default=0)
    last_event_id = models.CharField(max_length=255, blank=True)
    # Unix seconds, Stripe's clock: no event created at or before this is newer
    # than the last snapshot fetched from Stripe (reconcile, a tie).
    fetched_at = models.BigIntegerField(default=0)
    deleted = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "subscription state"
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["subscription_id"],
                                    name="subscription_state_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} ({self.status})"


class CheckoutIntent(models.Model):
    """One checkout of a member, recorded before Stripe is asked (see docs/billing.md).

    The row is committed first; its ``key`` (moved on by ``attempt`` after an
    answer Stripe saved) is the idempotency key of the one Checkout Session
    create, and ``params`` are exactly what is sent. Only sessions recorded
    here as open are ever expired.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (Stripe asked, answer not applied)"
        OPEN = "open", "Open (payable)"
        CLOSED = "closed", "Closed (expired, refused or failed)"

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checkout_intents",
    )
    key = models.CharField("idempotency key", max_length=64, unique=True)
    attempt = models.PositiveIntegerField(default=0)
    # What is sold, where the buyer returns, to which customer: same digest, same checkout.
    config_digest = models.CharField(max_length=64)
    params = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    session_id = models.CharField("Checkout Session ID", max_length=255, blank=True)
    url = models.TextField(blank=True)
    expires_at = models.BigIntegerField(null=True, blank=True)  # unix seconds, Stripe's clock
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "checkout intent"
        ordering = ["-id"]
        indexes = [models.Index(fields=["member", "status"])]

    def __str__(self) -> str:
        return f"{self.session_id or self.key} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"{self.key}-g{self.attempt}" if self.attempt else self.key


class SubscriptionChange(models.Model):
    """One change a member (or an administrator for them) asks of their subscription.

    Recorded and committed before Stripe is asked; ``key`` is the idempotency key
    of the one ``subscriptions.update`` it makes. The groups follow when Stripe's
    ``customer.subscription.updated`` event arrives (docs/billing.md).
    """

    class Action(models.TextChoices):
        CHANGE_PLAN = "change_plan", "Change plan"
        CANCEL_AT_PERIOD_END = "cancel_at_period_end", "Cancel at period end"
        RESUME = "resume", "Resume"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (Stripe asked, answer not recorded)"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscription_changes",
    )
    subscription_id = models.CharField(max_length=255)
    action = models.CharField(max_length=32, choices=Action.choices)
    params = models.JSONField()
    key = models.CharField("idempotency key", max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    # An administrator acting from the member editor; empty when the member did it.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "subscription change"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.subscription_id} ({self.status})"


class SetupCheckResult(models.Model):
    """The last result of one item of the Stripe setup check, shown on the Stripe screen."""

    class Level(models.TextChoices):
        SUCCESS = "success", "OK"
        WARNING = "warning", "Warning"
        ERROR = "error", "Problem"

    item = models.CharField(max_length=255, unique=True)
    position = models.PositiveIntegerField(default=0)
    level = models.CharField(max_length=16, choices=Level.choices)
    message = models.TextField()
    checked_at = models.DateTimeField()

    class Meta:
        verbose_name = "setup check result"
        ordering = ["position", "item"]

    def __str__(self) -> str:
        return f"{self.item}: {self.level}"


class RefusedDelivery(models.Model):
    """Refused webhook deliveries of one minute, one reason and one client address.

    Each refusal adds one to its row (one upsert), so a flood of bad requests
    adds rows at a bounded rate. Neither the body nor any header is kept.
    """

    minute = models.DateTimeField("minute (start)")
    reason = models.CharField(max_length=200)
    client_address = models.CharField(max_length=64)
    count = models.PositiveIntegerField("deliveries", default=1)
    first_at = models.DateTimeField("first")
    last_at = models.DateTimeField("last")
    # The ID of the newest refused event that could be read from its body.
    event_id = models.CharField("event ID", max_length=255, blank=True)

    class Meta:
        verbose_name = "refused webhook delivery"
        verbose_name_plural = "refused webhook deliveries"
        ordering = ["-minute", "-last_at"]
        constraints = [
            models.UniqueConstraint(fields=["minute", "reason", "client_address"],
                                    name="refused_delivery_per_minute"),
        ]

    def __str__(self) -> str:
        return f"{self.reason} ({self.client_address}, {self.count} deliveries)"
