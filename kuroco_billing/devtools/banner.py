"""Print where everything is once `make run` has started it.

    python -m kuroco_billing.devtools.banner SITE_URL EMULATOR_URL
"""

from __future__ import annotations

import os
import sys


def lines(site: str, emulator: str) -> list[str]:
    from django.conf import settings

    site, emulator = site.rstrip("/"), emulator.rstrip("/")
    rows = [
        ("Demo page", f"{site}/demo/"),
        ("Admin", f"{site}/admin/"),
        ("  administrator", f"{settings.DEMO_ADMIN_EMAIL} / {settings.DEMO_ADMIN_PASSWORD}"),
        ("  member", f"{settings.DEMO_MEMBER_EMAIL} / {settings.DEMO_MEMBER_PASSWORD}"),
        ("Swagger UI, API 1", f"{site}/rcms-api/1/swagger/  (cookie)"),
        ("Swagger UI, API 2", f"{site}/rcms-api/2/swagger/  (dynamic token)"),
        ("Stripe emulator", f"{emulator}/  (dashboard; pay with card 4242 4242 4242 4242)"),
        ("Stripe API base", settings.STRIPE_API_BASE or "real Stripe (STRIPE_API_BASE is empty)"),
    ]
    width = max(len(label) for label, _ in rows)
    rule = "-" * 72
    return [rule, "Kuroco Billing is running (Ctrl-C stops the app and the emulator).",
            *(f"  {label.ljust(width)}  {value}" for label, value in rows), rule]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kuroco_billing.settings")
    import django

    django.setup()
    print("\n".join(lines(*argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
