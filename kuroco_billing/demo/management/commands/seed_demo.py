"""Seed the demo: accounts, groups, two APIs and, when Stripe is reachable, prices and a webhook.

Idempotent: run it any number of times and the database (and the Stripe account
or emulator) ends in the same state. ``make run`` runs it on every start.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from payments import gateway

from ...accounts import seed_accounts, seed_groups
from ...apis import seed_apis
from ...output import SeedOutput
from ...stripe_setup import seed_stripe


class Command(BaseCommand):
    help = (
        "Create the demo administrator, member, groups and APIs; with the Stripe "
        "emulator (STRIPE_API_BASE) or --stripe, also the prices and the webhook endpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        stripe = parser.add_mutually_exclusive_group()
        stripe.add_argument(
            "--stripe", action="store_true",
            help="Set up Stripe even without STRIPE_API_BASE (needs DEMO_STRIPE_SECRET_KEY "
                 "or a stored secret key).",
        )
        stripe.add_argument("--no-stripe", action="store_true", help="Skip the Stripe part.")
        stripe.add_argument(
            "--tutorial", action="store_true",
            help="Skip the Stripe part and leave it to the person following the Kuroco "
                 "tutorial (make tutorial): keys, webhook endpoint, products, group prices.",
        )

    def handle(self, *args, stripe: bool = False, no_stripe: bool = False,
               tutorial: bool = False, **options) -> None:
        out = SeedOutput(self.stdout, self.stderr, self.style)
        with transaction.atomic():
            seed_accounts(out)
            groups = seed_groups(out)
            apis = seed_apis(out)

        if tutorial:
            out.line("Stripe: left for you to set up, step by step: see the README, "
                     "\"Following the Kuroco tutorial\".")
            return
        if no_stripe or not (stripe or settings.STRIPE_API_BASE):
            out.line("Stripe: skipped (STRIPE_API_BASE is not set; pass --stripe).")
            return
        try:
            seed_stripe(out, groups, apis)
        except gateway.StripeError as exc:
            where = settings.STRIPE_API_BASE or "Stripe"
            out.warn(
                f"Stripe part skipped ({where}): {exc.message} "
                "Everything else is seeded; run seed_demo again once Stripe answers."
            )
