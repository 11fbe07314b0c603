"""The Makefile's commands: `make run` and `make tutorial` (their scripts, and real runs
stopped with Ctrl-C), and `make test` failing on no tests."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
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
TUTORIAL_STATE = ROOT / "var" / "tutorial-emulator-state.json"
DEVELOPERS_FILES = (EMULATOR_STATE, EMULATOR_LOG, TUTORIAL_STATE)


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
    """Each run starts without the developer's emulator state, which is put back afterwards."""
    saved = {path: path.read_bytes() for path in DEVELOPERS_FILES if path.exists()}
    var_existed = EMULATOR_STATE.parent.exists()
    for path in saved:
        path.unlink()
    try:
        yield
    finally:
        for path in DEVELOPERS_FILES:
            if path in saved:
                path.write_bytes(saved[path])
            else:
                path.unlink(missing_ok=True)
        if not var_existed:
            with contextlib.suppress(OSError):
                EMULATOR_STATE.parent.rmdir()


class Running:
    """`make <target>` started as from a developer's shell, on free ports."""

    def __init__(self, target: str, tmp_path: Path) -> None:
        self.port, self.emulator_port = free_port(), free_port()
        self.site = f"http://127.0.0.1:{self.port}"
        self.emulator = f"http://127.0.0.1:{self.emulator_port}"
        self.database = tmp_path / "demo.sqlite3"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))
               and k not in NOT_IN_A_DEVELOPERS_SHELL}
        env["DATABASE_URL"] = f"sqlite:///{self.database}"
        # -o: the virtualenv is in use by this very test run; never reinstall it here.
        command = ["make", "-o", ".venv/.installed-run", target, f"PORT={self.port}",
                   f"EMULATOR_PORT={self.emulator_port}"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)  # its own process group
        self.output = Output(self.process.stdout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_banner(self) -> None:
        banner = [f"{self.site}/admin/", f"{self.site}/rcms-api/1/swagger/",
                  f"{self.site}/rcms-api/2/swagger/", f"{self.site}/demo/",
                  "admin@example.com / admin-pass-123", "member@example.com / member-pass-123",
                  f"{self.emulator}/"]
        assert self.output.wait_for(*banner, timeout=120, alive=self.alive), self.output.text
        # The app talks to the emulator make started, not to real Stripe.
        assert re.search(rf"Stripe API base +{re.escape(self.emulator)}\n", self.output.text)
        assert wait_until_answers(f"{self.site}/healthz"), self.output.text
        assert requests.get(f"{self.site}/healthz", timeout=10).status_code == 200

    def ctrl_c(self, times: int = 1) -> None:
        """Ctrl-C in the terminal (``times`` in a row, as an impatient person presses it);
        then make, the app and the emulator are all gone."""
        try:
            for _ in range(times):
                os.killpg(self.process.pid, signal.SIGINT)
                time.sleep(0.05)
            self.process.wait(timeout=30)
        finally:
            self.kill()
        # Both children are gone too, not only make: nothing listens any more.
        assert wait_for_free(self.port) and wait_for_free(self.emulator_port), self.output.text
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 0)
            pytest.fail(f"processes of make are still alive:\n{self.output.text}")
        assert "Stopping." in self.output.text
        assert self.process.returncode != 0  # interrupted, as make reports it

    def kill(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@contextlib.contextmanager
def running(target: str, tmp_path: Path) -> Iterator[Running]:
    with developers_files_kept():
        run = Running(target, tmp_path)
        try:
            yield run
        finally:
            run.kill()


def test_make_run_serves_the_demo_and_ctrl_c_stops_everything(tmp_path):
    with running("run", tmp_path) as run:
        run.wait_for_banner()
        dashboard = requests.get(f"{run.emulator}/", timeout=10)
        assert dashboard.status_code == 200
        assert "text/html" in dashboard.headers["Content-Type"]
        # The seed reached the emulator: checkout sells a real price.
        assert "checkout for price_" in run.output.text, run.output.text
        run.ctrl_c()


def test_ctrl_c_pressed_twice_still_stops_the_emulator(tmp_path):
    """The second Ctrl-C comes while the first one's clean-up runs: it must not cut it
    short and leave the emulator holding its port for the next ``make run``."""
    with running("run", tmp_path) as run:
        run.wait_for_banner()
        run.ctrl_c(times=2)


def test_make_tutorial_leaves_stripe_to_the_person_and_ctrl_c_stops_everything(tmp_path):
    with running("tutorial", tmp_path) as run:
        run.wait_for_banner()
        assert "Following the Kuroco tutorial" in run.output.text
        # No price ID (a migration's name such as 0002_membergroup_price_details is fine).
        assert not re.search(r"\bprice_[A-Za-z0-9]{14,}\b", run.output.text), run.output.text
        assert "Webhook endpoint" not in run.output.text
        # The emulator's account is empty: the person creates everything in its dashboard.
        keys = requests.get(f"{run.emulator}/apikeys", timeout=10).text
        secret_key = re.search(r'id="secret-key">(sk_test_\w+)<', keys).group(1)
        for listing in ("products", "prices", "webhook_endpoints"):
            answer = requests.get(f"{run.emulator}/v1/{listing}", auth=(secret_key, ""),
                                  timeout=10)
            assert answer.status_code == 200 and answer.json()["data"] == [], answer.text
        run.ctrl_c()
    with sqlite3.connect(run.database) as db:
        assert db.execute("SELECT COUNT(*) FROM members_member").fetchone() == (2,)
        assert db.execute("SELECT COUNT(*) FROM rcms_api_api").fetchone() == (2,)
        assert db.execute("SELECT COUNT(*) FROM members_membergroup "
                          "WHERE stripe_price_id IS NOT NULL").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM payments_stripesettings "
                          "WHERE enabled").fetchone() == (0,)


def test_make_tutorial_keeps_its_own_database_and_emulator_state():
    script = make("-n", "tutorial").stdout
    assert "-m stripe_emulator --port 12111 --state var/tutorial-emulator-state.json" in script
    assert f'DATABASE_URL="sqlite:///{ROOT}/var/tutorial.sqlite3"' in script
    assert "manage.py seed_demo --tutorial" in script
    assert "trap stop EXIT" in script
    # `make run` keeps the settings' database and its own state.
    script = make("-n", "run").stdout
    assert "DATABASE_URL" not in script
    assert "--tutorial" not in script


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
