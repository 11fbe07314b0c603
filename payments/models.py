"""Stripe settings, the webhook event log, and per-subscription ordering state."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .fields import EncryptedTextField

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

    @classmethod
    def load(cls) -> StripeSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

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
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    event_id = models.CharField("event ID", max_length=255, unique=True)
    type = models.CharField(max_length=255, db_index=True)
    created = models.DateTimeField("created at Stripe")
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    error = models.TextField("error or reason", blank=True)
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

    class Meta:
        verbose_name = "webhook event"
        verbose_name_plural = "webhook events"
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"


class SubscriptionState(models.Model):
    """The last Stripe state applied for one subscription.

    Webhooks come late, twice and out of order; this row is what lets an older
    snapshot be recognised and skipped, and a deletion stay final.
    """

    subscription_id = models.CharField(max_length=255, unique=True)
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

    def __str__(self) -> str:
        return f"{self.subscription_id} ({self.status})"
