"""A local, stateful stand-in for the slice of Stripe that Kuroco Billing uses.

Start it with ``python -m stripe_emulator`` or, in tests, with
``stripe_emulator.testing.start_in_thread``.
"""

API_VERSION = "2026-10-28.endive"
