"""WhiteNoise serves the collected static files under gunicorn, as in production.

Production settings (DEBUG off, the compressed manifest storage) after ``collectstatic``:
hashed names are cached for a year, the admin and Swagger pages link to hashed names,
and the files come gzipped to clients that accept it.

The files are collected into a temporary STATIC_ROOT (set through the environment, as
an operator would), so the run leaves nothing in the checkout.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fixtures.processes import app_env, manage, start_gunicorn

YEAR = 365 * 86400
ADMIN_CSS = "admin/css/base.css"
SWAGGER_JS = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
SWAGGER_CSS = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"

class Site:
    def __init__(self, url: str, manifest: dict[str, str]) -> None:
        self.url, self.manifest = url, manifest

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(self.url + path, headers=headers, timeout=30)

    def hashed(self, name: str) -> str:
        return "/static/" + self.manifest[name]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with tempfile.TemporaryDirectory(prefix="kb-static-") as directory:
        root = Path(directory)
        env = app_env(f"sqlite:///{root / 'db.sqlite3'}", "http://127.0.0.1:9",
                      STATIC_ROOT=str(root / "static"))
        assert env["DEBUG"] == "0"
        manage(env, "collectstatic", "--noinput")
        manage(env, "migrate", "--noinput")
        manifest = json.loads((root / "static" / "staticfiles.json").read_text())["paths"]
        server, url = start_gunicorn(env, root, workers=1)
        try:
            yield Site(url, manifest)
        finally:
            server.stop()


@pytest.mark.parametrize("name", [ADMIN_CSS, SWAGGER_JS, SWAGGER_CSS])
def test_hashed_static_files_are_served_with_a_long_max_age(site, name):
    hashed = site.hashed(name)
    assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", hashed), hashed

    response = site.get(hashed)

    assert response.status_code == 200
    assert len(response.content) > 1000
    cache_control = response.headers["Cache-Control"]
    max_age = int(re.search(r"max-age=(\d+)", cache_control).group(1))
    assert max_age >= YEAR, cache_control
    assert "immutable" in cache_control


def test_the_unhashed_name_is_served_but_not_cached_for_long(site):
    response = site.get(f"/static/{ADMIN_CSS}")

    assert response.status_code == 200
    max_age = int(re.search(r"max-age=(\d+)", response.headers["Cache-Control"]).group(1))
    assert max_age < 3600


def test_static_files_are_gzipped_for_clients_that_accept_it(site):
    response = site.get(site.hashed(SWAGGER_JS), **{"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"].lower() == "accept-encoding"


def test_a_missing_static_file_is_a_404(site):
    assert site.get("/static/admin/css/no-such-file.css").status_code == 404


def test_the_admin_login_page_links_the_hashed_files(site):
    response = site.get("/admin/login/")

    assert response.status_code == 200
    assert f'href="{site.hashed(ADMIN_CSS)}"' in response.text
    # Every stylesheet and script the page links is a hashed name that is served.
    linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', response.text)
    assert linked
    for path in linked:
        assert path.removeprefix("/static/") in site.manifest.values(), path
        assert site.get(path).status_code == 200, path
