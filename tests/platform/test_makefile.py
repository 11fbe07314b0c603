"""The Makefile's two commands: `make run` (its script, and a real run stopped with Ctrl-C),
and `make test` failing on no tests."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    return subprocess.run(["make", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_make_run_starts_the_emulator_migrates_seeds_and_serves():
    script = make("-n", "run").stdout
    steps = [
        "-m stripe_emulator --port 12111 --state var/emulator-state.json",
        "kuroco_billing.devtools.net wait",
        "manage.py migrate --noinput",
        "manage.py seed_demo",
        "manage.py runserver",
    ]
    positions = [script.find(step) for step in steps]
    assert -1 not in positions, script
    assert positions == sorted(positions)
    assert "trap stop EXIT" in script


def test_make_test_fails_when_no_test_runs():
    # pytest exits 5 when nothing is collected; make test must not call that a pass.
    result = make("test", "PYTEST_ARGS=-p no:cacheprovider tests/platform/test_demo_page.py "
                  "-k no_such_test_anywhere")
    assert result.returncode != 0
    assert "pytest collected no tests: failing." in result.stderr


# --- make run, for real ---------------------------------------------------------------

# What the test environment (tests/settings.py, pytest, an outer `make test`) put in
# os.environ that a developer's shell would not have.
NOT_IN_A_DEVELOPERS_SHELL = {
    "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "DATABASE_URL", "DEBUG",
    "STRIPE_API_BASE", "DEMO_SITE_URL", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
}
# `make run` keeps the emulator's state in var/ of the checkout; a developer's demo
# state there is put back afterwards.
EMULATOR_STATE = ROOT / "var" / "emulator-state.json"
EMULATOR_LOG = ROOT / "var" / "emulator.log"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Output:
    """A child's combined output, read on a thread so the child never blocks on the pipe."""

    def __init__(self, stream) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.text += line

    def wait_for(self, *needles: str, timeout: float, alive) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(needle in self.text for needle in needles):
                return True
            if not alive():
                return False
            time.sleep(0.2)
        return False


@contextlib.contextmanager
def developers_files_kept() -> Iterator[None]:
    saved = {path: path.read_bytes() for path in (EMULATOR_STATE, EMULATOR_LOG)
             if path.exists()}
    var_existed = EMULATOR_STATE.parent.exists()
    try:
        yield
    finally:
        for path in (EMULATOR_STATE, EMULATOR_LOG):
            if path in saved:
                path.write_bytes(saved[path])
            else:
                path.unlink(missing_ok=True)
        if not var_existed:
            with contextlib.suppress(OSError):
                EMULATOR_STATE.parent.rmdir()


def test_make_run_serves_the_demo_and_ctrl_c_stops_everything(tmp_path):
    port, emulator_port = free_port(), free_port()
    site, emulator = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emulator_port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "DJANGO_")) and k not in NOT_IN_A_DEVELOPERS_SHELL}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    # -o: the virtualenv is in use by this very test run; never reinstall it here.
    command = ["make", "-o", ".venv/.installed-run", "run", f"PORT={port}",
               f"EMULATOR_PORT={emulator_port}"]
    with developers_files_kept():
        make_run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)  # its own process group
        output = Output(make_run.stdout)
        try:
            banner = [f"{site}/admin/", f"{site}/rcms-api/1/swagger/",
                      f"{site}/rcms-api/2/swagger/", f"{site}/demo/",
                      "admin@example.com / admin-pass-123", "member@example.com / member-pass-123",
                      f"{emulator}/"]
            assert output.wait_for(*banner, timeout=120,
                                   alive=lambda: make_run.poll() is None), output.text
            # The app talks to the emulator make started, not to real Stripe.
            assert re.search(rf"Stripe API base +{re.escape(emulator)}\n", output.text)
            assert wait_until_answers(f"{site}/healthz"), output.text
            assert requests.get(f"{site}/healthz", timeout=10).status_code == 200
            dashboard = requests.get(f"{emulator}/", timeout=10)
            assert dashboard.status_code == 200
            assert "text/html" in dashboard.headers["Content-Type"]
            # The seed reached the emulator: checkout sells a real price.
            assert "checkout for price_" in output.text, output.text

            os.killpg(make_run.pid, signal.SIGINT)  # Ctrl-C in the terminal
            make_run.wait(timeout=30)
        finally:
            if make_run.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(make_run.pid, signal.SIGKILL)
                make_run.wait(timeout=10)
        # Both children are gone too, not only make: nothing listens any more.
        assert wait_for_free(port) and wait_for_free(emulator_port), output.text
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make_run.pid, 0)
            pytest.fail(f"processes of make run are still alive:\n{output.text}")
    assert "Stopping." in output.text
    assert make_run.returncode != 0  # interrupted, as make reports it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answers(url: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return True
        except requests.RequestException:
            time.sleep(0.2)
    return False


def wait_for_free(port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
