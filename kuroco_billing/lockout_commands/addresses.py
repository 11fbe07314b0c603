"""The address check the wrapped axes commands share: a typo is refused, not a traceback."""

import ipaddress

from django.core.management.base import CommandError


def check_address(ip: str) -> str:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise CommandError(f"{ip!r} is not an IPv4 or IPv6 address.") from None
    return ip
