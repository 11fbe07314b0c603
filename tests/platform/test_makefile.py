"""The Makefile's two commands: what `make run` would do, and `make test` failing on no tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

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
