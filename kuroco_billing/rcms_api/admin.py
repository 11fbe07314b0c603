"""Admin for APIs and their endpoints."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import catalogue
from .forms import ApiForm, EndpointForm, EndpointInlineForm, EndpointInlineFormSet
from .models import Api, Endpoint


def swagger_url(api_id: int) -> str:
    return _api_url("rcms_api:swagger", api_id, f"/rcms-api/{api_id}/swagger/")


def openapi_url(api_id: int) -> str:
    return _api_url("rcms_api:openapi", api_id, f"/rcms-api/{api_id}/openapi.json")


def _api_url(name: str, api_id: int, fallback: str) -> str:
    try:
        return reverse(name, kwargs={"api_id": api_id})
    except NoReverseMatch:
        return fallback


def _link(url: str, text: str) -> SafeString:
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, text)


def add_endpoint_link(api: Api) -> SafeString:
    """The full endpoint form for this API: the rows below cannot hold an operation's settings."""
    url = f"{reverse('admin:rcms_api_endpoint_add')}?{urlencode({'api': api.pk})}"
    return format_html(
        '<p><a id="add-endpoint" href="{}" class="addlink">Add an endpoint with its settings</a>'
        '<br><span class="help">A checkout endpoint needs its products and return URLs, '
        "which only the full form holds.</span></p>",
        url,
    )


class EndpointInline(admin.TabularInline):
    model = Endpoint
    form = EndpointInlineForm
    formset = EndpointInlineFormSet
    fields = ("path", "operation", "summary", "enabled")
    extra = 0
    show_change_link = True


@admin.register(Api)
class ApiAdmin(admin.ModelAdmin):
    form = ApiForm
    inlines = [EndpointInline]
    list_display = (
        "number",
        "title",
        "version",
        "security",
        "enabled",
        "endpoint_count",
        "documentation",
    )
    list_display_links = ("number", "title")
    list_filter = ("security", "enabled")
    search_fields = ("title",)
    readonly_fields = ("endpoint_overview",)
    fieldsets = (
        (None, {"fields": ("title", "version", "description", "security", "enabled")}),
        ("CORS", {"fields": ("cors_allowed_origins", "cors_allow_credentials")}),
        ("Endpoints", {"fields": ("endpoint_overview",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Api]:
        return super().get_queryset(request).annotate(endpoint_count=Count("endpoints"))

    @admin.display(description="number", ordering="id")
    def number(self, obj: Api) -> int:
        return obj.pk

    @admin.display(description="endpoints", ordering="endpoint_count")
    def endpoint_count(self, obj: Api) -> int:
        return obj.endpoint_count

    @admin.display(description="documentation")
    def documentation(self, obj: Api) -> SafeString:
        return format_html(
            "{} · {}",
            _link(swagger_url(obj.pk), "Swagger UI"),
            _link(openapi_url(obj.pk), "OpenAPI"),
        )

    @admin.display(description="endpoints by category")
    def endpoint_overview(self, obj: Api) -> SafeString | str:
        if not obj.pk:
            return "Save the API first, then add its endpoints."
        endpoints = list(obj.endpoints.all())
        if not endpoints:
            return format_html("<p>No endpoints yet: add them below.</p>{}",
                               add_endpoint_link(obj))
        sections = []
        for category in catalogue.CATEGORIES:
            rows = [e for e in endpoints if e.category == category]
            if rows:
                sections.append(self._category_table(obj, category, rows))
        return format_html(
            '<p>{}</p>{}{}',
            _link(swagger_url(obj.pk), "Swagger UI for this API"),
            format_html_join("", "{}", ((section,) for section in sections)),
            add_endpoint_link(obj),
        )

    def _category_table(self, api: Api, category: str, rows: list[Endpoint]) -> SafeString:
        body = format_html_join(
            "",
            "<tr><td>{}</td><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    e.method,
                    reverse("admin:rcms_api_endpoint_change", args=[e.pk]),
                    e.url_path,
                    e.spec.label,
                    "enabled" if e.enabled else "disabled",
                    _link(swagger_url(api.pk), "Swagger UI"),
                )
                for e in rows
            ),
        )
        return format_html(
            '<h3 class="endpoint-category">{}</h3>'
            "<table><thead><tr><th>Method</th><th>Path</th><th>Operation</th>"
            "<th>Status</th><th>Docs</th></tr></thead><tbody>{}</tbody></table>",
            category,
            body,
        )


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ("url_path", "method", "operation_label", "enabled", "api", "rate_limit")
    list_filter = ("api", "operation", "enabled")
    search_fields = ("path", "summary")
    list_select_related = ("api",)
    fieldsets = (
        (None, {"fields": ("api", "path", "operation", "summary", "description", "enabled")}),
        ("Rate limit", {"fields": ("rate_limit_count", "rate_limit_period"),
                        "description": "At most this many requests per period; 0 = no limit."}),
        (
            "Products and return URL",
            {
                "classes": ("operation-settings", "operation-checkout", "operation-portal",
                            "operation-plans", "operation-change_plan"),
                "fields": ("products_list", "return_url"),
                "description": "Products: checkout, plans and plan change. Return URL: "
                               "checkout and portal.",
            },
        ),
        (
            "Checkout settings",
            {
                "classes": ("operation-settings", "operation-checkout"),
                "fields": ("return_err_url", "trial_period_days"),
            },
        ),
        (
            "Plan change settings",
            {
                "classes": ("operation-settings", "operation-change_plan"),
                "fields": ("proration_behavior",),
            },
        ),
        (
            "Cancel settings",
            {
                "classes": ("operation-settings", "operation-cancel_order"),
                "fields": ("at_period_end",),
            },
        ),
        (
            "Token settings",
            {
                "classes": ("operation-settings", "operation-token"),
                "fields": ("access_token_lifetime", "refresh_token_lifetime"),
            },
        ),
    )

    def response_add(self, request: HttpRequest, obj: Endpoint, post_url_continue=None):
        # Opened from an API's page (?api=…): "Save" goes back to that API.
        if request.GET.get("api") and not {"_continue", "_addanother"} & set(request.POST):
            self.message_user(request, f"The endpoint {obj.url_path} was added.",
                              messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:rcms_api_api_change", args=[obj.api_id]))
        return super().response_add(request, obj, post_url_continue)

    @admin.display(description="path", ordering="path")
    def url_path(self, obj: Endpoint) -> str:
        return obj.url_path

    @admin.display(description="operation", ordering="operation")
    def operation_label(self, obj: Endpoint) -> str:
        return obj.spec.label

    @admin.display(description="rate limit")
    def rate_limit(self, obj: Endpoint) -> str:
        if not obj.rate_limit_count:
            return "—"
        return f"{obj.rate_limit_count} / {obj.rate_limit_period} s"
