"""Admin for "External system integration": Stripe settings and the webhook log."""

from __future__ import annotations

import datetime
import json
import logging

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from .forms import SECRET_FIELDS, StripeSettingsForm, secret_status
from .models import (
    WEBHOOK_EVENTS,
    CheckoutIntent,
    RefusedDelivery,
    SetupCheckResult,
    StripeSettings,
    SubscriptionState,
    WebhookEvent,
)
from .services.webhooks import reprocess_event

logger = logging.getLogger(__name__)

WEBHOOK_PATH_FALLBACK = "/direct/stripe/webhook/"
EMPTY = "—"
STRIPE_TITLE = "External system integration → Stripe"
SAVED_MESSAGE = "The Stripe settings were saved."


def webhook_url(request: HttpRequest) -> str:
    """The absolute address to paste into Stripe's webhook endpoint form."""
    try:
        path = reverse("payments:stripe-webhook")
    except NoReverseMatch:
        path = WEBHOOK_PATH_FALLBACK
    return request.build_absolute_uri(path)


def _masked(fields) -> tuple:
    """``fields`` of a fieldset with each secret replaced by its status, without "clear" boxes."""
    masked = []
    for field in fields:
        if isinstance(field, tuple | list):
            masked.append(_masked(field))
        elif field in SECRET_FIELDS:
            masked.append(f"{field}_status")
        elif not field.startswith("clear_"):
            masked.append(field)
    return tuple(masked)


@admin.register(StripeSettings)
class StripeSettingsAdmin(admin.ModelAdmin):
    """A singleton: the list page is skipped and the form opens straight away."""

    form = StripeSettingsForm
    fieldsets = (
        ("Status", {"fields": ("enabled",)}),
        ("API keys", {"fields": ("publishable_key", ("secret_key", "clear_secret_key"))}),
        ("Webhook", {"fields": (("webhook_secret", "clear_webhook_secret"),)}),
        (
            "Webhook secret rotation",
            {
                "classes": ("collapse",),
                "fields": (
                    ("previous_webhook_secret", "clear_previous_webhook_secret"),
                    "previous_webhook_secret_expires_at",
                ),
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_fieldsets(self, request: HttpRequest, obj=None):
        """Staff who may only view see each secret's status, never its value.

        Django renders every field of a view-only page read-only, with its stored
        value: the secrets are swapped for their ``*_status`` and the "clear" boxes dropped.
        """
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        return [(name, {**options, "fields": _masked(options["fields"])})
                for name, options in fieldsets]

    @admin.display(description="Secret key")
    def secret_key_status(self, obj: StripeSettings) -> str:
        return secret_status(obj.secret_key)

    @admin.display(description="Webhook signing secret")
    def webhook_secret_status(self, obj: StripeSettings) -> str:
        return secret_status(obj.webhook_secret)

    @admin.display(description="Previous webhook signing secret")
    def previous_webhook_secret_status(self, obj: StripeSettings) -> str:
        return secret_status(obj.previous_webhook_secret)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        obj = StripeSettings.load()
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:payments_stripesettings_change", args=[obj.pk])
        )

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"

        def run_checks(request, object_id):
            return self.run_checks_view(request, object_id)

        urls = [
            path("<path:object_id>/run-checks/",
                 self.admin_site.admin_view(transaction.non_atomic_requests(run_checks)),
                 name=f"{prefix}_run_checks"),
            *super().get_urls(),
        ]
        # Saving may ask Stripe (the key check, then the setup check): never inside
        # a request-wide transaction, should ATOMIC_REQUESTS be on.
        for pattern in urls:
            if getattr(pattern, "name", None) == f"{prefix}_change":
                transaction.non_atomic_requests(pattern.callback)
        return urls

    # Error reports (DEBUG pages, admin mails) must not carry the typed secrets.
    # The publishable key too: a secret may be pasted into it by mistake.
    @method_decorator(sensitive_post_parameters(*SECRET_FIELDS, "publishable_key"))
    @method_decorator(sensitive_variables())  # every frame below holds the typed secrets
    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        obj = StripeSettings.load()
        extra_context = {
            **(extra_context or {}),
            "title": STRIPE_TITLE,
            "subtitle": None,
            "stripe_mode": obj.mode_label,
            "stripe_webhook_url": webhook_url(request),
            "stripe_webhook_events": WEBHOOK_EVENTS,
            "setup_results": list(SetupCheckResult.objects.all()),
            "can_run_checks": self.has_change_permission(request, obj),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def response_post_save_change(self, request: HttpRequest, obj: StripeSettings):
        # There is no list to go back to: stay on the form.
        return HttpResponseRedirect(request.path)

    @method_decorator(sensitive_variables())
    def changeform_view(self, request: HttpRequest, object_id=None, form_url="",
                        extra_context=None):
        if request.method == "POST" and object_id is not None:
            # Asked before the admin opens its transaction: Stripe is never called in one.
            request.stripe_key_refusal = self._key_refusal(request, object_id)
        response = super().changeform_view(request, object_id, form_url, extra_context)
        # The admin saved inside a transaction, now committed: Stripe may be asked.
        saved = getattr(request, "stripe_settings_saved", None)
        if saved is not None and saved.enabled:
            self._report_setup_checks(request, saved)
        return response

    @sensitive_variables()
    def _key_refusal(self, request: HttpRequest, object_id) -> str | None:
        """Why enabling with the submitted keys is refused, or None (see docs/operations.md).

        Asked when the integration is being turned on, or a new secret key is typed
        while it is on. Other form errors are left to the admin's own pass.
        """
        from .setup_checks import refusal_to_enable

        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_change_permission(request, obj):
            return None
        was_enabled = obj.enabled
        form = self.get_form(request, obj, change=True)(request.POST, request.FILES,
                                                        instance=obj)
        if not form.is_valid() or not form.cleaned_data.get("enabled"):
            return None
        if was_enabled and "secret_key" not in form.changed_data:
            return None
        return refusal_to_enable(form.cleaned_data["secret_key"])

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "stripe_key_refusal", None)
        return _refusing(form, refusal) if refusal else form

    def response_change(self, request: HttpRequest, obj: StripeSettings):
        request.stripe_settings_saved = obj  # checked once the transaction is over
        self.message_user(request, SAVED_MESSAGE, messages.SUCCESS)
        return self.response_post_save_change(request, obj)

    def run_checks_view(self, request: HttpRequest, object_id: str):
        """The status panel's "Run the checks" button (POST, CSRF-checked by admin_view)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = StripeSettings.load()
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        self._report_setup_checks(request, obj)
        return HttpResponseRedirect(reverse(
            f"{self.admin_site.name}:payments_stripesettings_change", args=[obj.pk]))

    def _report_setup_checks(self, request: HttpRequest, obj: StripeSettings) -> None:
        from .setup_checks import run_checks

        try:
            results = run_checks(obj, webhook_url(request))
        except Exception:  # Stripe trouble is a message, never a 500.
            logger.exception("Stripe setup check failed")
            self.message_user(
                request, "The setup could not be checked with Stripe; try again later.",
                messages.WARNING,
            )
            return
        levels = {"success": messages.SUCCESS, "warning": messages.WARNING,
                  "error": messages.ERROR}
        for result in results:
            self.message_user(request, result.message, levels.get(result.level, messages.INFO))


def _refusing(form_class, refusal: str):
    """``form_class`` with ``refusal`` as an error of the whole form."""

    class RefusingForm(form_class):
        def clean(self):
            cleaned = super().clean()
            self.add_error(None, refusal)
            return cleaned

    RefusingForm.__name__ = form_class.__name__
    return RefusingForm


class ReadOnlyAdmin(admin.ModelAdmin):
    """A log to look at: nothing is added, edited or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "status", "received_at", "member", "created")
    list_filter = ("type", "status")
    search_fields = ("event_id",)
    list_select_related = ("member",)
    date_hierarchy = "received_at"
    actions = ["reprocess"]
    fields = (
        "event_id",
        "type",
        "status",
        "error",
        "note",
        "member",
        "livemode",
        "created",
        "received_at",
        "processed_at",
        "attempts",
        "pretty_payload",
    )
    readonly_fields = ("pretty_payload",)

    @admin.display(description="payload")
    def pretty_payload(self, obj: WebhookEvent) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>',
            json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False),
        )

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_webhookevent")

    @admin.action(description="Reprocess the selected events", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset) -> None:
        levels = {
            WebhookEvent.Status.PROCESSED: messages.SUCCESS,
            WebhookEvent.Status.IGNORED: messages.WARNING,
            WebhookEvent.Status.FAILED: messages.ERROR,
        }
        for event in queryset:
            try:
                event, failed = reprocess_event(event)
            except Exception:  # One bad event must not hide the others' results.
                logger.exception("Reprocessing webhook event %s failed", event.event_id)
                self.message_user(
                    request, f"{event.event_id}: reprocessing failed unexpectedly.",
                    messages.ERROR,
                )
                continue
            if failed and event.status != WebhookEvent.Status.FAILED:
                # Settled before: that outcome stands, and nothing of this run was applied.
                self.message_user(
                    request, f"{event.event_id}: reprocessing failed ({failed}); nothing was "
                    f"applied, the stored outcome stays {event.get_status_display()}.",
                    messages.ERROR)
                continue
            text = f"{event.event_id}: {event.get_status_display()}"
            if event.error or event.note:
                text += f" ({event.error or event.note})"
            self.message_user(request, text, levels.get(event.status, messages.INFO))


@admin.register(SubscriptionState)
class SubscriptionStateAdmin(ReadOnlyAdmin):
    list_display = (
        "subscription",
        "member",
        "status",
        "current_period_end",
        "prices",
        "customer",
        "deleted",
        "updated_at",
    )
    list_filter = ("status", "deleted")
    search_fields = ("subscription_id", "customer_id", "member__email")
    list_select_related = ("member",)
    # Written as a person reads it: labelled IDs, prices as text, moments as dates.
    fields = (
        "subscription",
        "customer",
        "member",
        "status",
        "prices",
        "current_period_end",
        "deleted",
        "last_event",
        "fetched",
        "updated_at",
    )
    readonly_fields = ("subscription", "customer", "prices", "last_event", "fetched")

    @admin.display(description="subscription ID", ordering="subscription_id")
    def subscription(self, obj: SubscriptionState) -> str:
        return obj.subscription_id

    @admin.display(description="customer ID", ordering="customer_id")
    def customer(self, obj: SubscriptionState) -> str:
        return obj.customer_id or EMPTY

    @admin.display(description="prices")
    def prices(self, obj: SubscriptionState) -> str:
        return ", ".join(obj.price_ids or ()) or EMPTY

    @admin.display(description="newest event applied")
    def last_event(self, obj: SubscriptionState) -> str:
        if not obj.last_event_id:
            return "None yet"
        return f"{obj.last_event_id}, created at Stripe {_unix_moment(obj.last_event_created)}"

    @admin.display(description="last fetched from Stripe")
    def fetched(self, obj: SubscriptionState) -> str:
        return _unix_moment(obj.fetched_at) if obj.fetched_at else "Never"


def _unix_moment(seconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


@admin.register(CheckoutIntent)
class CheckoutIntentAdmin(ReadOnlyAdmin):
    """Each member's checkouts as this site recorded them (see docs/billing.md)."""

    list_display = ("member", "status", "session_id", "attempt", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("member__email", "session_id", "key")
    list_select_related = ("member",)
    exclude = ("url",)


@admin.register(RefusedDelivery)
class RefusedDeliveryAdmin(ReadOnlyAdmin):
    """Deliveries the webhook refused, counted per minute, reason and client address."""

    list_display = ("minute", "reason", "client_address", "count", "event_id", "last_at")
    list_filter = ("reason",)
    search_fields = ("client_address", "event_id", "reason")
    date_hierarchy = "minute"
    fields = ("minute", "reason", "client_address", "count", "first_at", "last_at", "event_id")
