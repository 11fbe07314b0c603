"""Real processes on a real database: the app under gunicorn, the Stripe emulator, PostgreSQL.

Dev tooling shared by the reliability tests (tests/fixtures/processes.py wires these into
pytest fixtures) and the benchmark (bench/); the app itself never imports it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

REPO = Path(__file__).resolve().parents[2]  # kuroco_billing/devtools/ -> the project
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))

EMULATOR_SECRET_KEY = "sk_test_51KurocoEmulator0000000000000000000000"
EMULATOR_PUBLISHABLE_KEY = "pk_test_51KurocoEmulator0000000000000000000000"
DEMO_MEMBER_EMAIL = "member@example.com"
DEMO_MEMBER_PASSWORD = "member-pass-123"
DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_ADMIN_PASSWORD = "admin-pass-123"
# The origin the cookie API trusts, so its CSRF rule (Origin must be allowed) passes.
SITE_ORIGIN = "http://127.0.0.1:3000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0] in {"postgres", "postgresql", "pgsql", "psql"}


# --- PostgreSQL ------------------------------------------------------------------

def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def libpq_url(url: str) -> str:
    """django-environ accepts postgres://, psql://, pgsql://; libpq only postgres(ql)://."""
    _scheme, rest = url.split("://", 1)
    return "postgresql://" + rest


def create_database(base_url: str, prefix: str = "kuroco_billing_reliability") -> str:
    """A new, empty database next to ``base_url``'s; returns its URL."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(libpq_url(_with_database(base_url, "postgres")),
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(base_url, name)


def drop_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(libpq_url(_with_database(url, "postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(url: str, sql: str, params: Sequence[Any] | dict | None = None) -> list[tuple]:
    """Run one statement on its own autocommit connection; rows if it returns any."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


# --- Processes ---------------------------------------------------------------------

def app_env(database_url: str, stripe_api_base: str, **extra: str) -> dict[str, str]:
    """A production-like environment: DEBUG off, real keys, plain HTTP on loopback."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="kuroco_billing.settings",
        DEBUG="0",
        SECRET_KEY="reliability-" + secrets.token_urlsafe(32),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=database_url,
        STRIPE_API_BASE=stripe_api_base,
        STRIPE_TIMEOUT_SECONDS="5",
        STRIPE_MAX_NETWORK_RETRIES="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
        DEMO_SITE_URL=SITE_ORIGIN,
        # Many sign-ins from one address in a few seconds are the point of these tests.
        AXES_ENABLED="false",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """Run ``manage.py args`` in ``env``; its stdout, or an error carrying its stderr."""
    result = subprocess.run(  # noqa: S603 (our own argv, no shell)
        [PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args[:1])} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


def django_shell(env: dict[str, str], code: str, timeout: float = 120) -> Any:
    """Run ``code`` in ``manage.py shell``; it may set ``result``, returned decoded from JSON."""
    wrapped = (
        "import json as _json\nresult = None\n" + code
        + "\nprint('@@RESULT@@' + _json.dumps(result, default=str))\n"
    )
    out = manage(env, "shell", "-c", wrapped, timeout=timeout)
    marker = out.rfind("@@RESULT@@")
    if marker < 0:
        raise RuntimeError(f"manage.py shell printed no result:\n{out[-2000:]}")
    return json.loads(out[marker + len("@@RESULT@@"):].strip())


@dataclass
class Process:
    """A child process whose output goes to a file, stopped by its own id."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen | None = None

    def start(self) -> Process:
        log = self.log_path.open("wb")
        self.popen = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
            self.args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            # gunicorn's workers are in the same session; end the group we created.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, 9)
            self.popen.wait(timeout)

    def wait_until(self, probe, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited before {what}:\n{self.log()[-4000:]}")
            try:
                if probe():
                    return
            except requests.RequestException as exc:
                last_error = exc
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not {what} after {timeout}s ({last_error}):\n{self.log()[-4000:]}"
        )


def start_emulator(log_dir: Path, port: int | None = None, *extra_args: str) -> tuple[Process, str]:
    """``python -m stripe_emulator`` on a free port; returns the process and its URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Process(
        "stripe emulator",
        [PYTHON, "-m", "stripe_emulator", "--port", str(port), *extra_args],
        {**os.environ, "PYTHONUNBUFFERED": "1"},
        log_dir / f"emulator-{port}.log",
    ).start()

    def answers() -> bool:
        requests.get(f"{url}/v1/account", auth=(EMULATOR_SECRET_KEY, ""), timeout=2)
        return True

    proc.wait_until(answers, "answering")
    return proc, url


def start_gunicorn(env: dict[str, str], log_dir: Path, *, workers: int = 2,
                   port: int | None = None, timeout: float = 60) -> tuple[Process, str]:
    """gunicorn with ``workers`` sync workers; ready once /healthz answers (or exists at all)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Process(
        "gunicorn",
        [GUNICORN, "kuroco_billing.wsgi", "--workers", str(workers), "--bind",
         f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "5",
         "--access-logfile", "-"],
        env,
        log_dir / f"gunicorn-{port}.log",
    ).start()

    def ready() -> bool:
        # /healthz answers 503 while the database is down; any answer means "serving".
        response = requests.get(f"{url}/healthz", timeout=5)
        return response.status_code < 600

    proc.wait_until(ready, "serving", timeout)
    return proc, url


# --- Stripe webhooks, signed the way Stripe signs them ------------------------------

def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``: ``t=<ts>,v1=<hmac>``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signed_headers(payload: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(payload, secret, timestamp),
    }


def make_event(event_type: str, obj: dict, *, created: int, livemode: bool = False,
               event_id: str | None = None) -> dict:
    """A Stripe event envelope around ``obj`` (a subscription snapshot)."""
    return {
        "id": event_id or "evt_" + uuid.uuid4().hex[:24],
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


# --- The assembled stack --------------------------------------------------------------

@dataclass
class Stack:
    """The app under gunicorn on its own PostgreSQL database, with a Stripe emulator."""

    database_url: str
    url: str
    emulator_url: str
    env: dict[str, str]
    webhook_secret: str
    log_dir: Path
    processes: list[Process] = field(default_factory=list)
    # What seed_demo made: APIs with their endpoints, groups with their prices.
    layout: dict = field(default_factory=dict)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/direct/stripe/webhook/"

    def query(self, sql: str, params: Sequence[Any] | dict | None = None) -> list[tuple]:
        return query(self.database_url, sql, params)

    def scalar(self, sql: str, params: Sequence[Any] | dict | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def shell(self, code: str) -> Any:
        return django_shell(self.env, code)

    def post_event(self, event: dict, *, secret: str | None = None,
                   timestamp: int | None = None, session: requests.Session | None = None
                   ) -> requests.Response:
        body = encode(event)
        http = session or requests
        return http.post(self.webhook_url, data=body, timeout=30,
                         headers=signed_headers(body, secret or self.webhook_secret, timestamp))

    def stripe(self):
        """A stripe SDK client talking to this stack's emulator."""
        import stripe

        return stripe.StripeClient(
            EMULATOR_SECRET_KEY,
            base_addresses={"api": self.emulator_url, "connect": self.emulator_url,
                            "files": self.emulator_url},
            max_network_retries=0,
        )

    def logs(self) -> str:
        return "\n".join(p.log() for p in self.processes)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


# Runs inside `manage.py shell` after seed_demo (which pointed Stripe at the emulator and
# registered the emulator's webhook endpoint for our gunicorn): add test members and
# report the layout and the webhook secret the tests sign their own events with.
CONFIGURE_STACK = """
from payments.models import StripeSettings
from members.models import Member, MemberGroup
from kuroco_billing.rcms_api.models import Api

for email in {emails!r}:
    if not Member.objects.filter(email=email).exists():
        Member.objects.create_user(email, {password!r}, name=email.split("@")[0])
config = StripeSettings.load()
result = {{
    "webhook_secret": config.webhook_secret,
    "enabled": config.enabled,
    "apis": {{str(a.pk): {{"security": a.security,
              "paths": {{e.operation: e.path for e in a.endpoints.all()}}}}
              for a in Api.objects.all()}},
    "prices": {{g.name: g.stripe_price_id for g in MemberGroup.objects.all()}},
}}
"""

RELIABILITY_PASSWORD = "reliability-pass-123"


def reliability_email(n: int) -> str:
    return f"reliability-{n:03d}@example.com"


def build_stack(base_database_url: str, log_dir: Path, *, members: int = 40,
                workers: int = 2, **env_extra: str) -> Stack:
    """Create, migrate, seed and start everything (``env_extra``: more app settings).

    The caller owns ``stack.stop()`` and ``drop_database(stack.database_url)``.
    """
    database_url = create_database(base_database_url)
    stack: Stack | None = None
    try:
        emulator, emulator_url = start_emulator(log_dir)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # seed_demo registers the emulator's webhook endpoint at DEMO_SITE_URL.
        env = app_env(database_url, emulator_url, DEMO_SITE_URL=url, **env_extra)
        stack = Stack(database_url, url, emulator_url, env, "", log_dir, [emulator])
        manage(env, "migrate", "--noinput")
        seeded = manage(env, "seed_demo")
        stack.layout = stack.shell(CONFIGURE_STACK.format(
            emails=[reliability_email(n) for n in range(members)],
            password=RELIABILITY_PASSWORD,
        ))
        stack.webhook_secret = stack.layout.pop("webhook_secret")
        if not (stack.layout["enabled"] and stack.webhook_secret):
            raise RuntimeError(f"seed_demo did not configure Stripe:\n{seeded}")
        server, _ = start_gunicorn(env, log_dir, workers=workers, port=port)
        stack.processes.append(server)
        return stack
    except BaseException:
        if stack is not None:
            stack.stop()
        drop_database(database_url)
        raise
