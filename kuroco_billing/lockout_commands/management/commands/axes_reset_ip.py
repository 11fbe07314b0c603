"""axes_reset_ip, each address checked first: a typo is refused, not a traceback."""

import ipaddress

from axes.management.commands.axes_reset_ip import Command as AxesCommand
from django.core.management.base import CommandError


class Command(AxesCommand):
    def handle(self, *args, **options):
        for ip in options["ip"]:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise CommandError(f"{ip!r} is not an IPv4 or IPv6 address.") from None
        super().handle(*args, **options)
