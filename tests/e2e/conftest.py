"""Fixtures for the end-to-end tutorial tests: two people's browsers and the app on the emulator."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from tests.fixtures.billing import WEBHOOK_PATH
from tests.fixtures.browser import save_screenshot

PAGE_FIXTURES = ("browser_page", "member_page")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On failure, keep what each browser showed (the pages are still open here)."""
    report = yield
    if report.when == "call" and report.failed:
        for name in PAGE_FIXTURES:
            page = getattr(item, "funcargs", {}).get(name)
            if page is None:
                continue
            try:
                save_screenshot(page, f"FAILED-{item.name}-{name}")
            except Exception as exc:  # a closed or crashed page: the report matters more
                report.sections.append(("screenshot", f"{name}: no screenshot ({exc})"))
    return report


@pytest.fixture(scope="session", autouse=True)
def django_under_playwright() -> None:
    """Let the ORM run in the main thread while Playwright's sync API is active.

    Playwright's sync API keeps an asyncio loop marked as running in this thread
    for as long as the session-scoped Chromium lives, which trips Django's
    async-safety check on plain synchronous ORM calls (test database set-up included).
    """
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture
def member_page(_chromium: Any) -> Iterator[Any]:
    """The member's own browser: the admin and the member don't share a session cookie.

    Cookie APIs sign members in to the Django session, so signing in through
    Swagger UI in the administrator's browser would sign the administrator out.
    """
    context = _chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def app_on_emulator(emulator, live_server, settings) -> str:
    """Point the app (served by ``live_server``) at the emulator; returns the webhook URL.

    Nothing is stored: the test enters keys and secrets through the admin as a person would.
    """
    settings.STRIPE_API_BASE = emulator.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 5
    return live_server.url + WEBHOOK_PATH


@pytest.fixture
def seeded_demo(emulator, live_server, app_on_emulator, settings, monkeypatch) -> str:
    """``manage.py seed_demo`` with the emulator's keys and this live server as the site."""
    settings.DEMO_SITE_URL = live_server.url
    monkeypatch.setenv("DEMO_STRIPE_SECRET_KEY", emulator.secret_key)
    monkeypatch.setenv("DEMO_STRIPE_PUBLISHABLE_KEY", emulator.publishable_key)
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=out, stderr=err)
    assert "webhook secret stored" in out.getvalue(), out.getvalue() + err.getvalue()
    return out.getvalue()
