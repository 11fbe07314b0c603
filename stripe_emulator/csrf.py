"""Refuse cross-site POSTs to the emulator's pages and controls (the API has its key).

The rule and its reasons: docs/emulator.md, "Dashboard".
"""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.wrappers import Request

ALLOWED_FETCH_SITES = ("same-origin", "none")  # "none": typed in the address bar


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def cross_site_refusal(request: Request) -> str | None:
    """Why this POST looks cross-site (None when it comes from the emulator's own pages)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ALLOWED_FETCH_SITES:
        return f"Sec-Fetch-Site is {fetch_site!r}"
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:  # browsers send one on every form POST: this is curl, the SDK, a test
        return None
    here = _origin(request.host_url)
    if here is None or _origin(source) != here:
        return f"it comes from {source[:100]!r}, not {request.host_url.rstrip('/')}"
    return None
