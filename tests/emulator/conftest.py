"""Fixtures for the emulator tests (imported: pytest_plugins only works in the root conftest)."""

from tests.fixtures.browser import _chromium, browser_page  # noqa: F401
from tests.fixtures.emulator import emulator, stripe_client  # noqa: F401
