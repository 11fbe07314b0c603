"""/favicon.ico: the icon browsers ask for on pages that do not name one (demo, API docs)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

ICON = Path(settings.BASE_DIR) / "static" / "kuroco_billing" / "favicon.svg"


@cache
def _icon() -> bytes:
    return ICON.read_bytes()


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    # Browsers take an SVG icon whatever the path's extension says.
    return HttpResponse(_icon(), content_type="image/svg+xml")
