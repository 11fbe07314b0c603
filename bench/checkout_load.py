"""Checkout, measured: the client's wall time against the Stripe time the app logs.

``bench/webhook_load.py --checkout``; the method is in docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.counters import StatementLog, log_size, machine, stripe_calls
from kuroco_billing.devtools.processes import (
    RELIABILITY_PASSWORD,
    Stack,
    build_stack,
    drop_database,
    query,
    reliability_email,
)

WARM_UP = 2  # checkouts that wake both workers (imports, connections), not counted
OVERHEAD_GOAL_MS = 5.0  # issue 9: p50 of the app's time beyond Stripe's
STATEMENT_SAMPLE = 6  # after the timed ones, checkouts whose statements are counted


@dataclass
class Checkout:
    member_id: str
    wall_ms: float
    status: int
    stripe_ms: float = 0.0
    calls: int = 0
    statements: int | None = None

    @property
    def overhead_ms(self) -> float:
        return self.wall_ms - self.stripe_ms


def cookie_api(stack: Stack) -> tuple[str, dict[str, str]]:
    """The first API whose security is the session cookie: its id and paths."""
    for api_id, api in stack.layout["apis"].items():
        if api["security"] == "cookie" and {"login_challenge", "checkout"} <= set(api["paths"]):
            return api_id, api["paths"]
    raise RuntimeError(f"seed_demo made no cookie API with a checkout: {stack.layout}")


def sign_in(stack: Stack, api_id: str, paths: dict[str, str], email: str) -> dict[str, str]:
    response = requests.post(f"{stack.url}/rcms-api/{api_id}/{paths['login_challenge']}",
                             json={"email": email, "password": RELIABILITY_PASSWORD},
                             headers={"Origin": stack.url}, timeout=60)
    response.raise_for_status()
    return response.cookies.get_dict()


def timed_request(method: str, url: str, cookies: dict[str, str], origin: str,
                  body: bytes | None = None) -> tuple[float, int]:
    """One request's wall time (ms) and status, from the client's first byte to its last.

    Through the standard library's ``http.client``: ``requests`` spends ≈ 0.3 to 1 ms of
    its own Python on each request (preparing it, merging cookie jars, looking up
    proxies), which is the bench's cost, not the app's. A new connection each time, as
    gunicorn's sync workers close it after every answer.
    """
    parts = urlsplit(url)
    headers = {"Origin": origin, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    if body is not None:
        headers["Content-Type"] = "application/json"
    began = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, parts.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return (time.perf_counter() - began) * 1000, response.status


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(checkouts: list[Checkout], profiles: list[float]) -> str:
    rows = [("", "p50 ms", "p99 ms", "mean ms")]
    for label, values in (("wall (client)", [c.wall_ms for c in checkouts]),
                          ("Stripe (logged)", [c.stripe_ms for c in checkouts]),
                          ("app overhead", [c.overhead_ms for c in checkouts]),
                          ("profile (wall)", profiles)):
        rows.append((label, f"{percentile(values, 50):.1f}", f"{percentile(values, 99):.1f}",
                     f"{statistics.fmean(values):.1f}"))
    calls = [c.calls for c in checkouts]
    lines = ["  ".join((row[0].ljust(16), *(cell.rjust(8) for cell in row[1:])))
             for row in rows]
    lines.append("(profile: the same members read their profile through the same API, "
                 "one at a time: the request's cost without the checkout)")
    lines.append(f"Stripe calls per checkout: {statistics.fmean(calls):.2f} "
                 f"(min {min(calls)}, max {max(calls)})")
    statements = [c.statements for c in COUNTED if c.statements is not None]
    if statements:
        lines.append(f"SQL statements per checkout: {statistics.fmean(statements):.2f} "
                     f"(min {min(statements)}, max {max(statements)}; from PostgreSQL's log)")
    return "\n".join(lines)


def count_statements(stack: Stack, admin_url: str, server_log: str | None,
                     checkout: Callable[[str, dict], Checkout],
                     members: list[tuple[str, dict]], show: bool) -> None:
    """After the timed checkouts: each further checkout's statements, from PostgreSQL's log.

    Logging every statement costs the server time, so it is turned on only now; the
    workers' sessions are ended so that they reconnect with it (their health check).
    """
    database = stack.database_url.rsplit("/", 1)[1]
    statement_log, why = StatementLog.locate(admin_url, database, server_log)
    if statement_log is None:
        print(f"statements not counted: {why}")
        return
    statement_log.enable()
    query(admin_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", [database])
    for n, (email, jar) in enumerate(members):
        mark = statement_log.mark()
        done = checkout(email, jar)
        time.sleep(0.05)  # the server's last lines reach its log
        sent = statement_log.statements(mark, statement_log.mark())
        if n >= WARM_UP:  # the first ones reconnect
            done.statements = len(sent)
            COUNTED.append(done)
            if show and n == len(members) - 1:
                print("statements of one checkout:", *sent, sep="\n  ")


COUNTED: list[Checkout] = []


def main(args: argparse.Namespace) -> int:
    count = args.checkouts
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    with tempfile.TemporaryDirectory(prefix="kb-bench-checkout-") as logs:
        total = count + 2 * WARM_UP + STATEMENT_SAMPLE
        stack = build_stack(args.database_url, Path(logs), members=total,
                            workers=args.workers, CONN_MAX_AGE=str(args.conn_max_age))
        try:
            api_id, paths = cookie_api(stack)
            emails = [reliability_email(n) for n in range(total)]
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                cookies = list(pool.map(lambda e: sign_in(stack, api_id, paths, e), emails))
            ids = dict(stack.query("SELECT email, id::text FROM members_member "
                                   "WHERE email = ANY(%s)", [emails]))
            server_log = stack.processes[-1].log_path
            checkout_url = f"{stack.url}/rcms-api/{api_id}/{paths['checkout']}"

            def checkout(email: str, jar: dict) -> Checkout:
                wall, status = timed_request("POST", checkout_url, jar, stack.url, b"{}")
                return Checkout(ids[email], wall, status)

            print(f"machine: {machine(admin_url)}")
            print(f"gunicorn {args.workers} sync workers, CONN_MAX_AGE={args.conn_max_age}, "
                  f"the emulator at {stack.emulator_url}; {count} checkouts, one at a time "
                  "(client: http.client)",
                  flush=True)
            members = list(zip(emails, cookies, strict=True))
            timed = count + WARM_UP
            checkouts: list[Checkout] = []
            start = 0
            profile_url = f"{stack.url}/rcms-api/{api_id}/{paths['profile']}"
            profiles: list[float] = []
            for n, (email, jar) in enumerate(members[:timed]):
                if n == WARM_UP:
                    start = log_size(server_log)
                done = checkout(email, jar)
                profile_ms, status = timed_request("GET", profile_url, jar, stack.url)
                if status != 200:
                    raise RuntimeError(f"the profile read answered {status}")
                if n >= WARM_UP:
                    checkouts.append(done)
                    profiles.append(profile_ms)
            time.sleep(0.3)  # the last log lines reach the file
            print(f"machine after: {machine(admin_url)}")
            by_member = {c.member_id: c for c in checkouts}
            for call in stripe_calls(server_log, start):
                if call.member in by_member:
                    by_member[call.member].stripe_ms += call.duration_ms
                    by_member[call.member].calls += 1
            count_statements(stack, admin_url, args.server_log, checkout, members[timed:],
                             args.show_statements)
        finally:
            stack.stop()
            drop_database(stack.database_url)
    failed = [c for c in checkouts if c.status != 200]
    print(summary(checkouts, profiles))
    print("(Stripe time: the workers' duration_ms, logged to 0.1 ms)")
    print(f"non-200 checkouts: {len(failed)}")
    overhead = percentile([c.overhead_ms for c in checkouts], 50)
    met = overhead <= OVERHEAD_GOAL_MS
    print(f"goal {'met   ' if met else 'MISSED'} app overhead p50 <= {OVERHEAD_GOAL_MS:g} ms "
          f"({overhead:.1f} ms)")
    print("RESULT", "OK" if not failed else "CHECKOUTS FAILED")
    if args.check_goals and not met:
        return 1
    return 0 if not failed else 1
