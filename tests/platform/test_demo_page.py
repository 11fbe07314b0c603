"""The demo page: plain HTML + JavaScript calling API 1, with ids a browser test can drive."""

from __future__ import annotations

import re

import pytest

ELEMENT_IDS = [
    "email", "password", "login-button", "profile", "groups", "customer-id",
    "subscription-id", "subscribe-button", "cancel-button", "logout-button", "message",
]


@pytest.mark.django_db
def test_demo_page_renders_with_the_element_ids(client):
    response = client.get("/demo/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for element_id in ELEMENT_IDS:
        assert re.search(rf'\bid="{element_id}"', html), element_id
    assert 'data-api-base="/rcms-api/1"' in html
    for path in ("login", "profile", "logout", "stripe/checkout", "stripe/cancel"):
        assert f'"{path}"' in html


@pytest.mark.django_db
def test_demo_page_loads_nothing_from_elsewhere(client):
    html = client.get("/demo/").content.decode()
    assert not re.search(r'\b(?:src|href)\s*=\s*"(?:https?:)?//', html)
    assert not re.search(r"\bimport\s|\bimportScripts\(|<script[^>]*\bsrc=", html)


@pytest.mark.django_db
def test_demo_page_is_read_only(client):
    assert client.post("/demo/").status_code == 405
