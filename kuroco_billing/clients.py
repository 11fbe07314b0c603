"""Who the client is, by network address, behind any number of trusted proxies.

Sign-in lockouts and anonymous rate limits count per client address. Behind a
load balancer every request comes from the proxy, so with TRUSTED_PROXY_COUNT
proxies in front, the client is the address the outermost of them saw: that
entry of X-Forwarded-For, counted from the right (entries further left are
whatever the client chose to send, and cannot be trusted).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; None when the request has none (e.g. Django's force_login)."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) < proxies:
        return remote
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
