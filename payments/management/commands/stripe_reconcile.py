"""Make members' groups and Stripe IDs match Stripe, and report the drift."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from payments import gateway
from payments.services.reconcile import reconcile_all


class Command(BaseCommand):
    help = (
        "For each member with a Stripe customer, read their subscriptions from Stripe "
        "and set groups and IDs to match. Prints what was wrong and what changed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="Report the drift without changing anything.")
        parser.add_argument("--member", type=int, metavar="ID",
                            help="Only this member (by ID).")

    def handle(self, *args, dry_run: bool = False, member: int | None = None, **options) -> None:
        try:
            gateway.ensure_configured()
        except gateway.StripeNotConfigured as exc:
            raise CommandError(exc.message) from None
        checked = drifted = failed = 0
        verb = "would change" if dry_run else "changed"
        for report in reconcile_all(member, dry_run=dry_run):
            checked += 1
            if report.changes:
                drifted += 1
                self.stdout.write(f"member {report.member_id} ({report.email}) {verb}:")
                for change in report.changes:
                    self.stdout.write(f"  - {change}")
            for error in report.errors:
                failed += 1
                self.stderr.write(f"member {report.member_id} ({report.email}) error: {error}")
        self.stdout.write(
            f"{checked} member(s) checked, {drifted} drifted, {failed} error(s)"
            + (" (dry run: nothing changed)" if dry_run else "")
        )
        if failed:
            raise CommandError(f"{failed} member(s) could not be reconciled.")
