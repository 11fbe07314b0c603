"""Admin for members and member groups."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from payments.services.reconcile import reconcile_member
from payments.setup_checks import check_group_price

from . import lockout_admin  # noqa: F401  (registers the sign-in lockout screens)
from .forms import (
    MemberChangeForm,
    MemberCreationForm,
    MemberGroupForm,
    MembershipInlineForm,
    stripe_enabled,
)
from .models import Member, MemberGroup, Membership, stripe_price_id_validator

logger = logging.getLogger(__name__)

EMPTY = "—"
SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due", "unpaid", "canceled")


class HasSubscriptionFilter(admin.SimpleListFilter):
    title = "Stripe subscription"
    parameter_name = "has_subscription"

    def lookups(self, request, model_admin):
        return [("yes", "Has a subscription"), ("no", "No subscription")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(stripe_subscription_id__isnull=False)
        if self.value() == "no":
            return queryset.filter(stripe_subscription_id__isnull=True)
        return queryset


class SubscriptionStatusFilter(admin.SimpleListFilter):
    title = "subscription status"
    parameter_name = "subscription_status"

    def lookups(self, request, model_admin):
        return [(status, status) for status in ("none", *SUBSCRIPTION_STATUSES)]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(subscription_status_value=None)
        if self.value() in SUBSCRIPTION_STATUSES:
            return queryset.filter(subscription_status_value=self.value())
        return queryset.none() if self.value() else queryset


class PlanFilter(admin.SimpleListFilter):
    """The plan is the member group whose price the member's subscription holds."""

    title = "plan"
    parameter_name = "plan"

    def lookups(self, request, model_admin):
        return list(
            MemberGroup.objects.exclude(stripe_price_id=None).values_list("pk", "name")
        )

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        # A string from the URL; the facet counts pass lookups()'s keys (integers).
        value = str(self.value())
        if not (value.isascii() and value.isdigit()):  # typed by hand ("²" too): no such plan
            return queryset.none()
        from kuroco_billing.plans import has_price
        from payments.models import SubscriptionState

        price = MemberGroup.objects.filter(pk=value).values("stripe_price_id")[:1]
        price_id = price[0]["stripe_price_id"] if price else None
        if not price_id:
            return queryset.none()
        holding = SubscriptionState.objects.filter(has_price(price_id))
        return queryset.filter(stripe_subscription_id__in=holding.values("subscription_id"))


class CancellationScheduledFilter(admin.SimpleListFilter):
    """Live subscriptions that end at a known moment (a period-end or dated cancel)."""

    title = "cancellation scheduled"
    parameter_name = "cancellation_scheduled"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(subscription_cancels_at_value=None)
        if self.value() == "no":
            return queryset.filter(subscription_cancels_at_value=None)
        return queryset


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipInlineForm
    fields = ("group", "why", "created_at")
    readonly_fields = ("why", "created_at")
    extra = 0
    # "Groups" on this page already means permission groups.
    verbose_name = "member group"
    verbose_name_plural = "member groups"

    @admin.display(description="why")
    def why(self, membership: Membership) -> str:
        # A paid group outlives an administrator's removal of theirs: this says which holds.
        return membership.reason if membership.pk else "By an administrator"


@admin.register(Member)
class MemberAdmin(UserAdmin):
    form = MemberChangeForm
    add_form = MemberCreationForm
    inlines = [MembershipInline]

    list_display = (
        "email",
        "name",
        "subscription_status_column",
        "plan_column",
        "period_end_column",
        "cancels_at_column",
        "stripe_customer_id",
        "stripe_subscription_id",
        "group_names",
        "is_active",
        "is_staff",
    )
    list_filter = (
        SubscriptionStatusFilter,
        PlanFilter,
        CancellationScheduledFilter,
        "is_active",
        "is_staff",
        "member_groups",
        HasSubscriptionFilter,
    )
    search_fields = ("email", "name", "stripe_customer_id", "stripe_subscription_id")
    ordering = ("email",)
    actions = ["resync_from_stripe"]

    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name",)}),
        (
            "Stripe",
            {
                "fields": (
                    "stripe_customer",
                    "stripe_subscription",
                    "subscription_status",
                    "subscription_plan",
                    "subscription_period_end",
                    "subscription_schedule",
                    "subscription_trial_end",
                    "latest_invoices",
                    "billing_actions",
                )
            },
        ),
        ("Status", {"fields": ("is_active", "is_staff")}),
        (
            # Django's staff permissions, not member groups: folded away so the two
            # kinds of "group" are not mistaken for each other.
            "Admin permissions",
            {
                "classes": ("collapse",),
                "fields": ("is_superuser", "groups", "user_permissions"),
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),
    )
    readonly_fields = (
        "stripe_customer",
        "stripe_subscription",
        "subscription_status",
        "subscription_plan",
        "subscription_period_end",
        "subscription_schedule",
        "subscription_trial_end",
        "latest_invoices",
        "billing_actions",
        "last_login",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Member]:
        queryset = super().get_queryset(request).prefetch_related("member_groups")
        return with_subscription_state(queryset)

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        # One query for the plans of the whole page, not one per row.
        from kuroco_billing.plans import groups_by_price, plan_names

        by_price = groups_by_price()
        for member in changelist.result_list:
            member.plan_names = plan_names(member.subscription_price_ids, by_price)
        return changelist

    @admin.display(description="subscription status", ordering="subscription_status_value")
    def subscription_status_column(self, obj: Member) -> str:
        return obj.subscription_status_value or EMPTY

    @admin.display(description="plan")
    def plan_column(self, obj: Member) -> str:
        return ", ".join(getattr(obj, "plan_names", ())) or EMPTY

    @admin.display(description="current period ends", ordering="subscription_period_end_value")
    def period_end_column(self, obj: Member) -> str:
        return _format_moment(obj.subscription_period_end_value)

    @admin.display(description="cancels at", ordering="subscription_cancels_at_value")
    def cancels_at_column(self, obj: Member) -> str:
        return _format_moment(obj.subscription_cancels_at_value)

    def get_inlines(self, request: HttpRequest, obj: Member | None = None):
        # Like the password: first create the member, then give groups.
        return self.inlines if obj is not None else []

    @admin.display(description="groups")
    def group_names(self, obj: Member) -> str:
        # .all() so the prefetched groups are used (no query per row).
        return ", ".join(group.name for group in obj.member_groups.all()) or EMPTY

    @admin.display(description="Stripe customer ID")
    def stripe_customer(self, obj: Member) -> str:
        return _dashboard_link("customers", obj.stripe_customer_id)

    @admin.display(description="Stripe subscription ID")
    def stripe_subscription(self, obj: Member) -> str:
        return _dashboard_link("subscriptions", obj.stripe_subscription_id)

    @admin.display(description="subscription status")
    def subscription_status(self, obj: Member) -> str:
        summary = _subscription_summary(obj)
        if not summary:
            return EMPTY
        status = str(summary.get("status") or EMPTY)
        # e.g. "unknown (Stripe could not be reached)": say why it is unknown.
        return f"{status} ({summary['error']})" if summary.get("error") else status

    @admin.display(description="current period ends")
    def subscription_period_end(self, obj: Member) -> str:
        summary = _subscription_summary(obj)
        return _format_moment(summary.get("current_period_end")) if summary else EMPTY

    @csrf_protect_m
    def changeform_view(self, request: HttpRequest, object_id=None, form_url="",
                        extra_context=None):
        # The summary may ask Stripe, which must not happen inside the admin's
        # transaction: it is read first and handed to the page (see get_object).
        if object_id and self.has_view_or_change_permission(request):
            request.subscription_summary = _read_summary(object_id)
            request.member_invoices = _read_invoices(object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_object(self, request: HttpRequest, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        read = getattr(request, "subscription_summary", None)
        if obj is not None and read is not None and read[0] == obj.pk:
            obj._admin_subscription_summary = read[1]
        invoices = getattr(request, "member_invoices", None)
        if obj is not None and invoices is not None and invoices[0] == obj.pk:
            obj._admin_invoices = invoices[1]
        return obj

    # --- The billing panel ---------------------------------------------------------

    @admin.display(description="plan")
    def subscription_plan(self, obj: Member) -> str:
        answer = _stored_subscription(obj)
        if not answer or not answer["price_id"]:
            return EMPTY
        from payments.prices import format_amount, format_interval

        names = ", ".join(answer["group_ids"].values()) or answer["price_id"]
        amount = format_amount(answer["amount"], answer["currency"])
        interval = format_interval(answer["interval"], 1)
        price = f"{amount} / {interval}" if amount and interval else amount
        return f"{names} ({price})" if price else names

    @admin.display(description="cancellation")
    def subscription_schedule(self, obj: Member) -> str:
        answer = _stored_subscription(obj)
        if not answer:
            return EMPTY
        if answer["cancel_at"]:
            how = " (at period end)" if answer["cancel_at_period_end"] else ""
            return f"Ends on {_format_moment(answer['cancel_at'])}{how}"
        return "Not scheduled"

    @admin.display(description="trial ends")
    def subscription_trial_end(self, obj: Member) -> str:
        answer = _stored_subscription(obj)
        return _format_moment(answer["trial_end"]) if answer else EMPTY

    @admin.display(description="latest invoices")
    def latest_invoices(self, obj: Member) -> str:
        invoices, error = getattr(obj, "_admin_invoices", ([], None))
        if error:
            return f"Not available: {error}"
        if not invoices:
            return EMPTY
        from payments.prices import format_amount

        rows = format_html_join(
            "", '<li>{} · {} · {} · <a href="{}" target="_blank" '
                'rel="noopener noreferrer">View</a> · <a href="{}" target="_blank" '
                'rel="noopener noreferrer">PDF</a></li>',
            ((invoice["number"] or invoice["id"], _format_moment(invoice["created"]),
              f"{format_amount(invoice['amount_due'], invoice['currency'])} "
              f"{invoice['status'] or ''}".strip(),
              invoice["hosted_invoice_url"] or "#", invoice["invoice_pdf"] or "#")
             for invoice in invoices),
        )
        return format_html('<ul class="member-invoices">{}</ul>', rows)

    @admin.display(description="billing actions")
    def billing_actions(self, obj: Member) -> str:
        answer = _stored_subscription(obj)
        if not answer or answer.get("status") in (None, "canceled"):
            return EMPTY
        # A cancellation on a date set in Stripe's Dashboard is undone by Resume too.
        scheduled = answer["cancel_at_period_end"] or answer["cancel_at"]
        names = ["resume" if scheduled else "cancel_at_period_end", "cancel_now"]
        from payments.services.admin_billing import ACTIONS

        return format_html_join(" ", '<a class="button" href="{}">{}</a>', (
            (reverse("admin:members_member_billing", args=[obj.pk, name]), ACTIONS[name].label)
            for name in names))

    def get_urls(self):
        billing = path(
            "<path:object_id>/billing/<str:action>/",
            self.admin_site.admin_view(self.billing_action_view),
            name="members_member_billing",
        )
        return [billing, *super().get_urls()]

    def billing_action_view(self, request: HttpRequest, object_id: str, action: str):
        """Ask for confirmation (GET), then act (POST) outside any transaction."""
        from payments.services.admin_billing import ACTIONS, run_action

        member = self.get_object(request, unquote(object_id))
        if member is None or action not in ACTIONS:
            raise Http404("No such member or billing action.")
        if not self.has_change_permission(request, member):
            raise PermissionDenied
        change_url = reverse("admin:members_member_change", args=[member.pk])
        if request.method == "POST":
            succeeded, message = run_action(action, member, request.user)
            if succeeded:
                self.log_change(request, member, f"Billing: {message}")
            self.message_user(request, message,
                              messages.SUCCESS if succeeded else messages.ERROR)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{ACTIONS[action].label}?",
            "question": ACTIONS[action].question,
            "label": ACTIONS[action].label,
            "member": member,
            "subscription_id": member.stripe_subscription_id,
            "change_url": change_url,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/members/member/billing_confirm.html", context)

    @admin.action(description="Resync from Stripe", permissions=["change"])
    def resync_from_stripe(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        for member in queryset:
            try:
                report = reconcile_member(member)
            except Exception:  # One member's trouble must not hide the others' results.
                logger.exception("Resync from Stripe failed for member %s", member.pk)
                self.message_user(
                    request, f"{member}: the resync failed unexpectedly.", messages.ERROR
                )
                continue
            for error in report.errors:
                self.message_user(request, f"{member}: {error}", messages.ERROR)
            for change in report.changes:
                self.message_user(request, f"{member}: {change}", messages.SUCCESS)
            if not report.errors and not report.changes:
                self.message_user(request, f"{member}: already in sync.", messages.INFO)


@admin.register(MemberGroup)
class MemberGroupAdmin(admin.ModelAdmin):
    form = MemberGroupForm
    list_display = ("name", "stripe_price_id", "price_column", "member_count")
    search_fields = ("name", "stripe_price_id")
    readonly_fields = ("price_column", "price_checked_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[MemberGroup]:
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    def get_fields(self, request: HttpRequest, obj: MemberGroup | None = None) -> list[str]:
        fields = ["name", "description"]
        if stripe_enabled():
            # The price only means something while payments run through Stripe.
            fields.append("stripe_price_id")
            if obj is not None and obj.stripe_price_id:
                fields += ["price_column", "price_checked_at"]
        return fields

    @admin.display(description="price")
    def price_column(self, obj: MemberGroup) -> str:
        from payments.prices import describe_price

        return describe_price(obj) or EMPTY

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: MemberGroup) -> int:
        return obj.member_count

    def save_model(self, request: HttpRequest, obj: MemberGroup, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if getattr(form, "stripe_warning", None):
            self.message_user(request, form.stripe_warning, messages.WARNING)
        dropped = form.initial.get("stripe_price_id") if change else None
        if dropped and dropped != obj.stripe_price_id:
            self._warn_of_endpoints_selling(request, dropped)

    def _warn_of_endpoints_selling(self, request: HttpRequest, price_id: str) -> None:
        """A price no group carries any more, which endpoints still offer: they refuse
        to sell it from now on (a price that grants nothing), so the admin hears it."""
        from kuroco_billing.rcms_api.models import Endpoint

        selling = [f"/rcms-api/{endpoint.api_id}/{endpoint.path}"
                   for endpoint in Endpoint.objects.order_by("api_id", "path")
                   if price_id in ((endpoint.parameters or {}).get("products_list") or [])]
        if selling and not MemberGroup.objects.filter(stripe_price_id=price_id).exists():
            self.message_user(request, (
                f"{price_id} is no group's price now, yet these endpoints still offer it: "
                f"{', '.join(selling)}. They refuse to sell it (422) until their products "
                "list changes."), messages.WARNING)

    @csrf_protect_m
    def changeform_view(self, request: HttpRequest, object_id=None, form_url="",
                        extra_context=None):
        # The admin validates the form inside a transaction, and no Stripe call may
        # run inside one: the submitted price is checked with Stripe first.
        request.stripe_price_verdicts = self._check_submitted_price(request, object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: MemberGroup | None = None, change=False,
                 **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # A fresh class per request (modelform_factory), so this stays per request.
        form.price_verdicts = getattr(request, "stripe_price_verdicts", {})
        return form

    def _check_submitted_price(self, request: HttpRequest, object_id) -> dict:
        if request.method != "POST" or not stripe_enabled():
            return {}
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            return {}
        price_id = (request.POST.get("stripe_price_id") or "").strip()
        try:
            stripe_price_id_validator(price_id)
        except ValidationError:
            return {}  # the form says what is wrong, without asking Stripe
        if object_id and price_id == _stored_price(object_id):
            return {}
        return {price_id: check_group_price(price_id)}


def _stored_price(object_id: str) -> str | None:
    try:
        return MemberGroup.objects.filter(pk=unquote(object_id)).values_list(
            "stripe_price_id", flat=True).first()
    except (ValueError, ValidationError):  # a malformed ID: the admin answers it
        return None


def with_subscription_state(queryset: QuerySet[Member]) -> QuerySet[Member]:
    """Each member with their subscription's stored status, period end and prices."""
    from payments.models import SubscriptionState

    state = SubscriptionState.objects.filter(subscription_id=OuterRef("stripe_subscription_id"))
    return queryset.annotate(
        subscription_status_value=Subquery(state.values("status")[:1]),
        subscription_period_end_value=Subquery(state.values("current_period_end")[:1]),
        subscription_price_ids=Subquery(state.values("price_ids")[:1], output_field=JSONField()),
        # A live subscription's end, when one is scheduled: Stripe sets cancel_at for
        # a period-end cancel too, else the period end is when it stops.
        subscription_cancels_at_value=Subquery(
            state.filter(deleted=False)
            .filter(Q(cancel_at_period_end=True) | Q(cancel_at__isnull=False))
            .annotate(ends=Coalesce("cancel_at", "current_period_end"))
            .values("ends")[:1]
        ),
    )


def _dashboard_link(kind: str, object_id: str | None) -> str:
    if not object_id:
        return EMPTY
    try:
        from payments.links import dashboard_url

        url = dashboard_url(kind, object_id)
    except Exception:  # No link is better than no page.
        logger.exception("No Stripe dashboard link for %s", kind)
        return object_id
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, object_id
    )


def _read_summary(object_id: str) -> tuple[int, dict[str, Any] | None] | None:
    """``(member pk, summary)``, asking Stripe when nothing is stored; None if no member."""
    try:
        member = Member.objects.filter(pk=unquote(object_id)).first()
    except (ValueError, ValidationError):  # a malformed ID: the admin answers it
        return None
    if member is None:
        return None
    summary = None
    try:
        from payments.services.subscriptions import subscription_summary

        summary = subscription_summary(member)
    except Exception:  # Unavailable: the editor shows "—".
        logger.exception("No subscription summary for member %s", member.pk)
    return member.pk, summary


def _read_invoices(object_id: str) -> tuple[int, tuple[list, str | None]] | None:
    """``(member pk, (invoices, error))`` read from Stripe before the admin's transaction."""
    try:
        member = Member.objects.filter(pk=unquote(object_id)).first()
    except (ValueError, ValidationError):
        return None
    if member is None or not member.stripe_customer_id or not stripe_enabled():
        return None
    from payments.services.admin_billing import latest_invoices

    return member.pk, latest_invoices(member)


def _stored_subscription(member: Member) -> dict | None:
    """The subscription as stored from Stripe's events (no Stripe call), once per page."""
    if not hasattr(member, "_admin_subscription"):
        answer = None
        try:
            from payments.services.plans import subscription_answer

            answer = subscription_answer(member)
        except Exception:  # Unavailable: the editor shows "—".
            logger.exception("No stored subscription for member %s", member.pk)
        member._admin_subscription = answer
    return member._admin_subscription


def _subscription_summary(member: Member) -> dict[str, Any] | None:
    # Both read-only fields use it: ask once per page. Read before the admin's
    # transaction (changeform_view); failing that, only what is stored.
    if not hasattr(member, "_admin_subscription_summary"):
        summary = None
        try:
            from payments.services.subscriptions import stored_summary

            summary = stored_summary(member)
        except Exception:  # Unavailable: the editor shows "—".
            logger.exception("No subscription summary for member %s", member.pk)
        member._admin_subscription_summary = summary
    return member._admin_subscription_summary


def _format_moment(value: Any) -> str:
    if value in (None, ""):
        return EMPTY
    if isinstance(value, int | float):
        value = datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    if isinstance(value, datetime.datetime):
        return date_format(timezone.localtime(value), "DATETIME_FORMAT")
    return str(value)
