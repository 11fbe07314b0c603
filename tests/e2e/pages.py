"""What a person does on each screen, as small Playwright helpers (sync API).

The tests read like the tutorial; the locators live here. Everything is found
by label, role or visible text where the page offers one, by the ids the
screens document (docs/emulator.md, the admin templates) otherwise.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.browser import save_screenshot

OK_CARD = "4242 4242 4242 4242"
POLL_SECONDS = 15.0


@dataclass
class Screenshots:
    """Numbered screenshots, so the artifacts sort in the order the tutorial goes."""

    prefix: str
    taken: list[Path] = field(default_factory=list)

    def __call__(self, page: Any, step: str) -> Path:
        path = save_screenshot(page, f"{self.prefix}-{len(self.taken) + 1:02d}-{step}")
        self.taken.append(path)
        return path


# --- Django admin ----------------------------------------------------------------------


def submit(page: Any, button: str) -> None:
    """Click a form's submit button and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()


def field(label: str) -> re.Pattern[str]:
    """A label matched whole, any case, with or without the colon Django's forms append."""
    return re.compile(rf"^{re.escape(label)}:?$", re.IGNORECASE)


def admin_login(page: Any, site_url: str, email: str, password: str) -> None:
    page.goto(f"{site_url}/admin/login/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(password)
    submit(page, "Log in")
    page.get_by_role("heading", name="Site administration").wait_for()


def admin_index_link(page: Any, site_url: str, app_label: str, model_link: str) -> None:
    """Open a model from the admin index, in the module of ``app_label``."""
    page.goto(f"{site_url}/admin/")
    module = page.locator(f".app-{app_label}")
    module.get_by_role("rowheader", name=model_link, exact=True).get_by_role("link").click()


def admin_messages(page: Any) -> dict[str, list[str]]:
    """The messages shown at the top of an admin page, by level (success/warning/error/info)."""
    found: dict[str, list[str]] = {}
    for item in page.locator("ul.messagelist li").all():
        level = (item.get_attribute("class") or "info").split()[0]
        found.setdefault(level, []).append(item.inner_text().strip())
    return found


def readonly_value(page: Any, field_name: str) -> str:
    """The text of a read-only field on an admin change form."""
    return page.locator(f".field-{field_name} .readonly").first.inner_text().strip()


def poll_page(page: Any, ready: Callable[[], bool], *, timeout: float = POLL_SECONDS) -> bool:
    """Reload ``page`` until ``ready()`` holds (webhooks arrive in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
        page.reload()


# --- Swagger UI ----------------------------------------------------------------------------


@dataclass
class SwaggerAnswer:
    status: int
    body: Any
    text: str


def swagger_execute(page: Any, path: str, body: dict | None = None) -> SwaggerAnswer:
    """Expand the operation at ``path``, "Try it out", edit the JSON body, "Execute".

    Returns the status and body of the live response Swagger UI shows.
    """
    block = page.locator(".opblock").filter(
        has=page.locator(f".opblock-summary-path[data-path='{path}']")
    )
    block.wait_for()
    if not block.locator(".opblock-body").count():
        block.locator(".opblock-summary").first.click()
    toggle = block.locator(".try-out__btn")  # "Try it out", then "Cancel"
    toggle.wait_for()
    if toggle.inner_text().strip() == "Try it out":
        toggle.click()
    if body is not None:
        block.locator("textarea.body-param__text").fill(json.dumps(body))
    responses = block.locator(".live-responses-table .response .response-col_status")
    # A second Execute replaces the table: wait for a fresh one, not the old answer.
    if responses.count():
        block.get_by_role("button", name="Clear").click()
        responses.first.wait_for(state="detached")
    block.get_by_role("button", name="Execute").click()
    responses.first.wait_for()
    status = int(responses.first.inner_text().strip())
    text = block.locator(".live-responses-table .response-col_description pre").first.inner_text()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return SwaggerAnswer(status, parsed, text)


# --- Stripe (the emulator's dashboard and hosted Checkout page) -------------------------------


def dashboard_nav(page: Any, name: str) -> None:
    """Follow a link of the dashboard's navigation bar (the page repeats some in its body)."""
    page.get_by_role("banner").get_by_role("link", name=name, exact=True).click()


def pay_on_hosted_page(page: Any, *, card: str = OK_CARD, name: str = "Member") -> None:
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill(name)


def subscribe_button(page: Any) -> Any:
    return page.get_by_role("button", name="Subscribe")


ID_RE = {kind: re.compile(rf"^{kind}_[A-Za-z0-9]+$") for kind in ("cus", "sub", "price")}
