"""axes_reset_ip, each address checked first: a typo is refused, not a traceback."""

from axes.management.commands.axes_reset_ip import Command as AxesCommand

from kuroco_billing.lockout_commands.addresses import check_address


class Command(AxesCommand):
    def handle(self, *args, **options):
        for ip in options["ip"]:
            check_address(ip)
        super().handle(*args, **options)
