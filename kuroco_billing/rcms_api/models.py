"""APIs, their endpoints, and the tokens dynamic-token APIs issue."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from . import catalogue


class Api(models.Model):
    """One API: a number used in URLs, a security mode and CORS settings."""

    class Security(models.TextChoices):
        COOKIE = "cookie", "Cookie"
        DYNAMIC_TOKEN = "dynamic_token", "Dynamic token"

    title = models.CharField(max_length=150)
    version = models.CharField(max_length=32, default="1.0")
    description = models.TextField(blank=True)
    security = models.CharField(max_length=16, choices=Security.choices, default=Security.COOKIE)
    cors_allowed_origins = models.TextField(
        "CORS allowed origins",
        blank=True,
        help_text="One origin per line, e.g. https://www.example.com",
    )
    cors_allow_credentials = models.BooleanField("CORS allow credentials", default=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = "API"
        verbose_name_plural = "APIs"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.title} (#{self.pk})"

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_allowed_origins.splitlines() if o.strip()]


class Endpoint(models.Model):
    """A path under /rcms-api/{api_id}/ bound to one catalogue operation."""

    api = models.ForeignKey(
        Api, on_delete=models.CASCADE, related_name="endpoints", verbose_name="API"
    )
    path = models.CharField(
        max_length=200, help_text="Relative to /rcms-api/{api_id}/, e.g. stripe/checkout"
    )
    operation = models.CharField(max_length=64, choices=catalogue.CHOICES)
    summary = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    # The operation's own parameters, e.g. products_list/return_url for checkout.
    parameters = models.JSONField(default=dict, blank=True)
    # Kuroco's per-endpoint rate limit: at most N requests per period (0 = off).
    rate_limit_count = models.PositiveIntegerField("rate limit: requests", default=0)
    rate_limit_period = models.PositiveIntegerField("rate limit: period (seconds)", default=60)

    class Meta:
        verbose_name = "endpoint"
        verbose_name_plural = "endpoints"
        ordering = ["api_id", "path"]

    def __str__(self) -> str:
        return f"{self.method} /rcms-api/{self.api_id}/{self.path}"

    @property
    def spec(self) -> catalogue.Operation:
        return catalogue.BY_NAME[self.operation]

    @property
    def method(self) -> str:
        return self.spec.method

    @property
    def category(self) -> str:
        return self.spec.category

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def url_path(self) -> str:
        return f"/rcms-api/{self.api_id}/{self.path}"


@sensitive_variables()
def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A grant, access or refresh token. Only its SHA-256 is stored."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant token"
        ACCESS = "access", "Access token"
        REFRESH = "refresh", "Refresh token"

    api = models.ForeignKey(
        Api, on_delete=models.CASCADE, related_name="tokens", verbose_name="API"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Every token descending from one grant: the grant, each pair exchanged
    # for it and each rotation after. Reusing one of them revokes them all.
    family = models.UUIDField(null=True, blank=True, editable=False, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["api", "member", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.member_id} on API {self.api_id}"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class RateLimitCounter(models.Model):
    """One client's request count on one endpoint in one fixed window.

    A table rather than the cache: the count is bumped with a single atomic
    upsert, so concurrent workers never lose a request between read and write.
    """

    key = models.CharField(max_length=255, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.BigIntegerField(db_index=True)  # unix seconds

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
