"""Swagger UI in a real browser: "Try it out" signs in and reads the profile."""

from __future__ import annotations

import json
import os

import pytest

from tests.fixtures.accounts import COOKIE_ENDPOINTS, MEMBER_EMAIL, MEMBER_PASSWORD, make_api
from tests.fixtures.browser import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="session", autouse=True)
def django_under_playwright():
    """Let Django's ORM run in the main thread while Playwright's sync API is active.

    Playwright's sync API marks an asyncio loop running in this thread for as
    long as the session-scoped Chromium lives, which trips Django's async-safety
    check on plain synchronous ORM calls (test database set-up included).
    """
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def try_it_out(page, operation_id: str, body: dict | None = None) -> tuple[str, str]:
    block = page.locator(f"#operations-{operation_id.split('_')[0]}-{operation_id}")
    if not block.count():
        block = page.locator(f"[id$='-{operation_id}']")
    block.locator(".opblock-summary").first.click()
    block.locator(".try-out__btn").click()
    if body is not None:
        block.locator("textarea.body-param__text").fill(json.dumps(body))
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    text = block.locator(".live-responses-table .response-col_description pre").first
    return status.inner_text().strip(), text.inner_text()


def test_try_it_out_signs_in_and_reads_the_profile(
    live_server, member, browser_page
):
    api = make_api("cookie", COOKIE_ENDPOINTS, title="Members site")
    page = browser_page
    page.goto(f"{live_server.url}/rcms-api/{api.pk}/swagger/")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".info .title").inner_text().startswith("Members site")

    status, text = try_it_out(page, f"login_challenge_{api.endpoints.get(path='login').pk}",
                              {"email": MEMBER_EMAIL, "password": MEMBER_PASSWORD,
                               "login_save": False})
    assert status == "200", text
    assert json.loads(text)["member_id"] == member.pk

    status, text = try_it_out(page, f"profile_{api.endpoints.get(path='profile').pk}")
    save_screenshot(page, "swagger-try-it-out-profile")
    assert status == "200", text
    assert json.loads(text)["email"] == MEMBER_EMAIL

    status, text = try_it_out(page, f"logout_{api.endpoints.get(path='logout').pk}", {})
    assert status == "200", text
    assert json.loads(text)["messages"] == ["Logged out."]
