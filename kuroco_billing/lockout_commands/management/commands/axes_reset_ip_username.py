"""axes_reset_ip_username: the address checked, the email folded as the lockout's key is."""

from axes.management.commands.axes_reset_ip_username import Command as AxesCommand

from kuroco_billing.lockout_commands.addresses import check_address
from members.lockouts import account_key


class Command(AxesCommand):
    help = ("Reset the access attempts and lockouts of one email from one address, the "
            "email however it is spelled (folded as sign-in folds it)")

    def handle(self, *args, **options):
        check_address(options["ip"])
        options["username"] = account_key(options["username"])
        super().handle(*args, **options)
