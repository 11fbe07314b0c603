"""The demo page: a member's page driven by the cookie API that seed_demo creates."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from .apis import COOKIE_API_ID


@require_safe
def demo(request: HttpRequest) -> HttpResponse:
    """A member's page driven by API 1 (cookie): sign in, subscribe, cancel."""
    return render(request, "demo/index.html", {"api_base": f"/rcms-api/{COOKIE_API_ID}"})
