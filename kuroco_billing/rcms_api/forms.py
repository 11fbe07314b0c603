"""Admin forms for APIs and their endpoints.

An endpoint's operation parameters (Endpoint.parameters, JSON) are edited as
ordinary form fields; only the chosen operation's parameters are stored.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from payments.prices import unlinked_prices

from . import catalogue
from .models import Api, Endpoint

CHECKOUT = "checkout"
TOKEN = "token"
PORTAL = "portal"
PLANS = "plans"
CHANGE_PLAN = "change_plan"
CANCEL_ORDER = "cancel_order"

PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
PRICE_ID_RE = re.compile(r"^price_[A-Za-z0-9]+$")
# Served by rcms_api.urls before the endpoint dispatcher: an endpoint there is unreachable.
RESERVED_PATHS = frozenset({"openapi.json", "swagger"})
# A host a browser sends in Origin: DNS labels (or localhost, an IPv4 address).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
ORIGIN_HOST_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_TRIAL_DAYS = 730
# Ten years: an expiry far past that would not fit a date (year 9999) at all.
MAX_TOKEN_LIFETIME = 10 * 365 * 24 * 3600

OPERATION_CHOICES = [
    (op.name, f"{op.label} ({op.method})") for op in catalogue.OPERATIONS
]

# Per operation: the form fields stored in Endpoint.parameters.
PARAMETER_FIELDS: dict[str, tuple[str, ...]] = {
    CHECKOUT: ("products_list", "return_url", "return_err_url", "trial_period_days"),
    TOKEN: ("access_token_lifetime", "refresh_token_lifetime"),
    PORTAL: ("return_url",),
    PLANS: ("products_list",),
    CHANGE_PLAN: ("products_list", "proration_behavior"),
    CANCEL_ORDER: ("at_period_end",),
}
# Operations that cannot work before their settings are entered on the endpoint's page.
NEEDS_SETTINGS = {
    CHECKOUT: "its products and return URLs",
    PORTAL: "its return URL",
    PLANS: "its products",
    CHANGE_PLAN: "its products",
}
PRORATION_CHOICES = [
    ("create_prorations", "Create prorations (charged at the next renewal)"),
    ("always_invoice", "Always invoice (charge the difference at once)"),
    ("none", "None (the new price applies from the next renewal)"),
]
ALL_PARAMETER_FIELDS = tuple(name for names in PARAMETER_FIELDS.values() for name in names)

absolute_http_url = URLValidator(
    schemes=["http", "https"], message="Enter an absolute http:// or https:// URL."
)


def validate_endpoint_path(path: str) -> None:
    """A path relative to /rcms-api/{api_id}/: plain segments, nothing that escapes it."""
    if path.startswith("/"):
        raise ValidationError(
            "Enter the path relative to /rcms-api/{api_id}/, without a leading slash.",
            code="leading_slash",
        )
    if not PATH_SEGMENT_RE.match(path.replace("/", "")):
        raise ValidationError(
            "A path may only contain letters, digits, /, _, - and . (no spaces).",
            code="characters",
        )
    if path in RESERVED_PATHS:
        raise ValidationError(
            "This path is reserved for the API's documentation (Swagger UI, OpenAPI).",
            code="reserved",
        )
    segments = path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValidationError(
            "A path cannot have empty, . or .. segments (no //, no trailing slash).",
            code="segments",
        )


def parse_products_list(text: str) -> list[str]:
    """Price IDs, one per line or comma separated; a repeated ID means quantity."""
    return [item.strip() for item in re.split(r"[,\n\r]+", text or "") if item.strip()]


def duplicate_route_error(method: str, path: str) -> str:
    return f"This API already has a {method} endpoint at “{path}”: each method and path once."


def token_on_cookie_api_error() -> str:
    return (
        "The token operation only works with dynamic-token APIs; this API uses cookies. "
        "Change the API's security to “Dynamic token” first."
    )


def routes_clash(api: Api, path: str, operation: str, exclude_pk: int | None) -> bool:
    """Does the API already have an endpoint answering this method at this path?"""
    method = catalogue.BY_NAME[operation].method
    same_method = [op.name for op in catalogue.OPERATIONS if op.method == method]
    others = Endpoint.objects.filter(api=api, path=path, operation__in=same_method)
    if exclude_pk:
        others = others.exclude(pk=exclude_pk)
    return others.exists()


class ApiForm(forms.ModelForm):
    class Meta:
        model = Api
        fields = (
            "title",
            "version",
            "description",
            "security",
            "cors_allowed_origins",
            "cors_allow_credentials",
            "enabled",
        )

    def clean_cors_allowed_origins(self) -> str:
        text = self.cleaned_data.get("cors_allowed_origins", "")
        lines = [line.strip().rstrip("/") for line in text.splitlines() if line.strip()]
        origins = [browser_origin(line) for line in lines]
        bad = [line for line, origin in zip(lines, origins, strict=True) if origin is None]
        if bad:
            raise ValidationError(
                "An origin is a scheme and host, like https://www.example.com "
                f"(no path): {', '.join(bad)}"
            )
        # Stored as a browser sends it, since Origin is compared as text.
        return "\n".join(origins)


class EndpointRouteMixin:
    """Path and operation checks shared by the endpoint form and the inline."""

    def clean_path(self) -> str:
        path = self.cleaned_data.get("path", "").strip()
        validate_endpoint_path(path)
        return path

    def check_route(self, api: Api | None) -> None:
        path = self.cleaned_data.get("path")
        operation = self.cleaned_data.get("operation")
        if api is None or not path or not operation:
            return
        if operation == TOKEN and api.security == Api.Security.COOKIE:
            self.add_error("operation", token_on_cookie_api_error())
        if api.pk and routes_clash(api, path, operation, self.instance.pk):
            self.add_error("path", duplicate_route_error(catalogue.BY_NAME[operation].method, path))


class EndpointForm(EndpointRouteMixin, forms.ModelForm):
    operation = forms.ChoiceField(choices=OPERATION_CHOICES)

    products_list = forms.CharField(
        label="Products (price IDs)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "Stripe price IDs (price_…), one per line or comma separated. Repeat an ID to "
            "sell it more than once. Each must be the price of a member group."
        ),
    )
    return_url = forms.CharField(
        label="Return URL",
        required=False,
        help_text="Checkout: where Stripe sends the member after paying. Portal: where its "
                  "Return link goes. An absolute http(s) URL.",
    )
    return_err_url = forms.CharField(
        label="Return URL on cancel or error",
        required=False,
        help_text=(
            "Where Stripe sends the member after cancelling: an absolute http(s) URL. "
            "Empty: the return URL."
        ),
    )
    trial_period_days = forms.IntegerField(
        label="Trial period (days)", required=False, min_value=1,
        max_value=MAX_TRIAL_DAYS,  # Stripe's own limit
    )
    proration_behavior = forms.ChoiceField(
        label="Proration behaviour",
        choices=PRORATION_CHOICES,
        required=False,
        help_text="Plan changes: how the rest of the period is charged. Default: create "
                  "prorations. With “always invoice” a failed payment leaves the plan unchanged.",
    )
    at_period_end = forms.BooleanField(
        label="At period end",
        required=False,
        help_text="Cancel: schedule the cancellation for the end of the paid period (the "
                  "member keeps the groups until then) instead of cancelling at once.",
    )
    access_token_lifetime = forms.IntegerField(
        label="Access token lifetime (seconds)", required=False, min_value=1,
        max_value=MAX_TOKEN_LIFETIME,
    )
    refresh_token_lifetime = forms.IntegerField(
        label="Refresh token lifetime (seconds)", required=False, min_value=1,
        max_value=MAX_TOKEN_LIFETIME,
    )

    class Meta:
        model = Endpoint
        fields = (
            "api",
            "path",
            "operation",
            "summary",
            "description",
            "enabled",
            "rate_limit_count",
            "rate_limit_period",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        parameters = self.instance.parameters or {}
        for name in ALL_PARAMETER_FIELDS:
            if name in parameters and name in self.fields:
                value = parameters[name]
                if name == "products_list" and isinstance(value, list):
                    value = "\n".join(str(item) for item in value)
                self.initial.setdefault(name, value)

    def clean_products_list(self) -> list[str]:
        return parse_products_list(self.cleaned_data.get("products_list", ""))

    def clean_return_url(self) -> str:
        return self._clean_absolute_url("return_url")

    def clean_return_err_url(self) -> str:
        return self._clean_absolute_url("return_err_url")

    def _clean_absolute_url(self, name: str) -> str:
        url = (self.cleaned_data.get(name) or "").strip()
        if url:
            absolute_http_url(url)
        return url

    def clean_rate_limit_period(self) -> int:
        period = self.cleaned_data.get("rate_limit_period")
        if period is not None and period < 1:
            raise ValidationError("The period is at least one second.")
        return period

    def clean(self) -> dict:
        cleaned = super().clean()
        self.check_route(cleaned.get("api"))
        operation = cleaned.get("operation")
        if operation == CHECKOUT:
            self._check_return_url(cleaned, "A checkout endpoint needs this URL.")
            self._check_products(cleaned)
        elif operation == PORTAL:
            self._check_return_url(cleaned, "A portal endpoint needs the URL the portal's "
                                            "Return link goes back to.")
        elif operation in (PLANS, CHANGE_PLAN):
            self._check_products(cleaned)
        return cleaned

    def _check_return_url(self, cleaned: dict, message: str) -> None:
        if "return_url" not in self.errors and not cleaned.get("return_url"):
            self.add_error("return_url", message)

    def _check_products(self, cleaned: dict) -> None:
        if "products_list" in self.errors:
            return
        products = cleaned.get("products_list") or []
        if not products:
            self.add_error("products_list", "Enter at least one Stripe price ID (price_…).")
            return
        malformed = sorted({p for p in products if not PRICE_ID_RE.match(p)})
        if malformed:
            self.add_error(
                "products_list",
                f"Not a Stripe price ID (price_…): {', '.join(malformed)}",
            )
            return
        unlinked = unlinked_prices(products)
        if unlinked:
            self.add_error(
                "products_list",
                f"Not the price of any member group: {', '.join(unlinked)}. Set it as a "
                "member group's Stripe price first, so that paying grants membership.",
            )

    def save(self, commit: bool = True) -> Endpoint:
        self.instance.parameters = self._parameters()
        return super().save(commit=commit)

    def _parameters(self) -> dict:
        """The chosen operation's parameters only; the others are dropped."""
        parameters = {}
        for name in PARAMETER_FIELDS.get(self.cleaned_data.get("operation"), ()):
            value = self.cleaned_data.get(name)
            if value not in (None, "", [], False):
                parameters[name] = value
        return parameters


def browser_origin(text: str) -> str | None:
    """``text`` as a browser's Origin header spells it (scheme and host in lower case,
    no default port), or None when no browser could send it."""
    scheme, sep, rest = text.partition("://")
    scheme, rest = scheme.lower(), rest.lower()
    host, _, port = rest.partition(":") if rest.count(":") == 1 else (rest, "", "")
    if not sep or scheme not in DEFAULT_PORTS or not ORIGIN_HOST_RE.match(host):
        return None
    if port:
        if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
            return None
        if int(port) != DEFAULT_PORTS[scheme]:
            return f"{scheme}://{host}:{int(port)}"
    return f"{scheme}://{host}"


class EndpointInlineForm(EndpointRouteMixin, forms.ModelForm):
    """A row of the API's endpoint table (the operation's settings live on its own page)."""

    operation = forms.ChoiceField(choices=OPERATION_CHOICES)

    class Meta:
        model = Endpoint
        fields = ("path", "operation", "summary", "enabled")

    def clean(self) -> dict:
        cleaned = super().clean()
        # Only a row becoming a checkout here is refused: an existing checkout
        # endpoint is configured (and checked) on its own page, and must not
        # stop the API's other settings from being saved meanwhile.
        becomes_new = self.instance.pk is None or "operation" in self.changed_data
        operation = cleaned.get("operation")
        required = {PORTAL: ("return_url",), CHECKOUT: ("products_list", "return_url")}.get(
            operation, ("products_list",))
        parameters = self.instance.parameters or {}
        if (
            becomes_new
            and operation in NEEDS_SETTINGS
            and not all(parameters.get(name) for name in required)
        ):
            self.add_error(
                "operation",
                f"A {operation} endpoint needs {NEEDS_SETTINGS[operation]}: add it with "
                "“Add endpoint” on the Endpoints page, where its settings are.",
            )
        return cleaned


class EndpointInlineFormSet(forms.BaseInlineFormSet):
    """Checks across rows: each method and path once, no token endpoint on a cookie API."""

    def clean(self) -> None:
        super().clean()
        seen: set[tuple[str, str]] = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            path = form.cleaned_data.get("path")
            operation = form.cleaned_data.get("operation")
            if not path or not operation:
                continue
            if (
                operation == TOKEN
                and self.instance.security == Api.Security.COOKIE
                and "operation" not in form.errors
            ):
                form.add_error("operation", token_on_cookie_api_error())
            method = catalogue.BY_NAME[operation].method
            if (method, path) in seen:
                form.add_error("path", duplicate_route_error(method, path))
            seen.add((method, path))
