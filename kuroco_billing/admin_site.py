"""Kuroco Billing's admin site: its name, its index grouped by task, and the overview page."""

from __future__ import annotations

from functools import update_wrapper
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from django.urls import path, reverse

# The index as a billing administrator reads it: (label, heading, models in order).
# A registered model missing here still shows, under "Other".
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "billing",
        "Billing",
        ("overview", "members.member", "members.membergroup", "payments.webhookevent",
         "payments.refuseddelivery", "payments.subscriptionstate",
         "payments.checkoutintent"),
    ),
    ("rcms_api", "Front-end API", ("rcms_api.api", "rcms_api.endpoint")),
    ("settings", "Settings", ("payments.stripesettings",)),
    (
        "security",
        "Security",
        ("axes.accessattempt", "axes.accessfailurelog", "axes.accesslog", "auth.group"),
    ),
)
# Names that say what the row is for, where the package's own name does not.
MODEL_NAMES = {
    "axes.accessattempt": "Sign-in lockouts",
    "axes.accessfailurelog": "Failed sign-ins",
    "axes.accesslog": "Sign-in log",
    "auth.group": "Staff permission groups",
}


# The query keys of a changelist's date drill-down (date_hierarchy), and the last
# year whose range (up to the next year) a date can hold.
DATE_PARTS = ("__year", "__month", "__day")
LAST_YEAR = 9998


def _fits_a_date(key: str, value: str) -> bool:
    """Not too long for a date part; a year up to LAST_YEAR (other values Django's own
    check answers)."""
    if len(value) > 4:
        return False
    return not (key.endswith("__year") and value.isascii() and value.isdigit()
                and int(value) > LAST_YEAR)


class KurocoAdminSite(admin.AdminSite):
    site_title = "Kuroco Billing"
    site_header = "Kuroco Billing"
    index_title = "Site administration"
    # The index lists every page; without the sidebar a list keeps its key columns in
    # view in a 1280 px window.
    enable_nav_sidebar = False

    @property  # type: ignore[override]
    def login_form(self):
        """Sign-ins one at a time per account and address, as the API's (members.forms)."""
        from members.forms import AdminSignInForm  # (this module loads before the models)

        return AdminSignInForm

    @property  # type: ignore[override]
    def site_url(self) -> str:
        """ "View site": the member-facing front end (the demo page under `make run`)."""
        return settings.ADMIN_SITE_URL

    def admin_view(self, view, cacheable=False):
        wrapped = super().admin_view(view, cacheable)

        def refusing_bad_queries(request: HttpRequest, *args, **kwargs):
            # Filters and searches pass query values to the database, which refuses a
            # NUL character: a 400, not a 500 from deep in a changelist.
            if any("\x00" in value for _, values in request.GET.lists() for value in values):
                raise SuspiciousOperation("A NUL character in the query string.")
            # A date drill-down builds a date from these and catches only ValueError:
            # a number past C's long overflows instead, and the day after 9999-12-31
            # (the end of its range) does not exist (a 500 either way).
            if any(not _fits_a_date(key, value) for key, values in request.GET.lists()
                   if key.endswith(DATE_PARTS) for value in values):
                raise SuspiciousOperation("A date in the query string out of range.")
            return wrapped(request, *args, **kwargs)

        return update_wrapper(refusing_bad_queries, wrapped)

    def get_urls(self):
        from .overview import overview_view

        return [
            path("overview/", self.admin_view(overview_view(self)), name="overview"),
            *super().get_urls(),
        ]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None):
        if app_label:  # An app's own page lists that app's models, as Django does.
            return super().get_app_list(request, app_label)
        return group_app_list(self, request, self._build_app_dict(request))


def group_app_list(
    site: admin.AdminSite, request: HttpRequest, app_dict: dict[str, Any]
) -> list[dict[str, Any]]:
    """Django's per-app index regrouped into SECTIONS (the sidebar uses it too)."""
    by_key = {
        f"{label}.{model['object_name'].lower()}": model
        for label, app in app_dict.items()
        for model in app["models"]
    }
    if can_see_overview(request):
        by_key["overview"] = _overview_entry(site)
    sections = []
    for label, heading, keys in SECTIONS:
        models = [_renamed(key, by_key.pop(key)) for key in keys if key in by_key]
        if models:
            sections.append(_section(label, heading, models))
    if by_key:
        sections.append(_section("other", "Other", sorted(by_key.values(), key=_name)))
    return sections


def can_see_overview(request: HttpRequest) -> bool:
    """The figures are about subscriptions: whoever may read their states may see them."""
    return request.user.is_active and request.user.is_staff and request.user.has_perm(
        "payments.view_subscriptionstate"
    )


def _section(label: str, heading: str, models: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": heading,
        "app_label": label,
        # The heading opens the section's first page.
        "app_url": models[0]["admin_url"] or "",
        "has_module_perms": True,
        "models": models,
    }


def _renamed(key: str, model: dict[str, Any]) -> dict[str, Any]:
    if key in MODEL_NAMES:
        model = {**model, "name": MODEL_NAMES[key]}
    return model


def _name(model: dict[str, Any]) -> str:
    return model["name"]


def _overview_entry(site: admin.AdminSite) -> dict[str, Any]:
    return {
        "name": "Overview",
        "object_name": "Overview",
        "perms": {"view": True},
        "admin_url": reverse("admin:overview", current_app=site.name),
        "add_url": None,
        "view_only": True,
    }


class KurocoAdminConfig(AdminConfig):
    """django.contrib.admin with Kuroco Billing's site as ``admin.site``."""

    default_site = "kuroco_billing.admin_site.KurocoAdminSite"
