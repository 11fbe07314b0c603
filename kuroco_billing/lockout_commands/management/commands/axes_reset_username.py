"""axes_reset_username, the email folded as the lockout's key is (Member@Example.com too)."""

from axes.management.commands.axes_reset_username import Command as AxesCommand

from members.lockouts import account_key


class Command(AxesCommand):
    help = ("Reset all access attempts and lockouts for given emails, however they are "
            "spelled (folded as sign-in folds them)")

    def handle(self, *args, **options):
        options["username"] = [account_key(name) for name in options["username"]]
        super().handle(*args, **options)
