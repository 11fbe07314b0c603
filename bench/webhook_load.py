"""Webhook load against the speed floor (bench/floor): events/s, latency, statements, Stripe calls.

What it sends, how it counts and how to read it: docs/performance.md. ``--checkout``
measures checkouts instead (bench/checkout_load.py).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.counters import (
    CPU_KINDS,
    StatementLog,
    batch_sizes,
    cpu_seconds,
    log_size,
    machine,
    stripe_calls,
)
from bench.floor.views import CREATE_TABLE as CREATE_FLOOR_TABLE
from kuroco_billing.devtools.processes import (
    PYTHON,
    Process,
    app_env,
    create_database,
    django_shell,
    drop_database,
    encode,
    free_port,
    is_postgres_url,
    libpq_url,
    make_event,
    manage,
    query,
    signed_headers,
    start_gunicorn,
)

PRICES = ("price_benchA", "price_benchB", "price_benchC", "price_benchD")
GROUP_PREFIX = "Bench plan "
EMAIL_DOMAIN = "bench.example.com"
GRANTING = ("active", "trialing", "past_due")
CREATED, UPDATED, DELETED = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


# --- The plan: what is sent and what must be true afterwards -------------------------------

@dataclass
class Plan:
    deliveries: list[dict]  # events in sending order; a duplicate is the same dict again
    # email -> (subscription ID the member holds or None, group names granted by Stripe)
    expected: dict[str, tuple[str | None, frozenset[str]]]
    subscriptions: int
    unique_events: int


def member_email(run: str, n: int) -> str:
    return f"bench-{run}-{n:05d}@{EMAIL_DOMAIN}"


def _subscription(sub_id: str, customer: str, status: str, prices: list[str],
                  period_end: int) -> dict:
    return {
        "id": sub_id, "object": "subscription", "customer": customer, "status": status,
        "metadata": {},
        "items": {"object": "list", "data": [
            {"id": f"si_{sub_id}_{i}", "object": "subscription_item", "quantity": 1,
             "price": {"id": price, "object": "price"}, "current_period_end": period_end}
            for i, price in enumerate(prices)
        ]},
    }


def build_plan(run: str, members: int, events: int, *, duplicates: float = 0.1,
               deleted_share: float = 0.2, in_order: bool = False, seed: int = 1) -> Plan:
    """One subscription per member, ``events`` events in all (before duplicates).

    Shuffled across the whole burst, or ``in_order``: sorted by ``created``, members
    interleaved, the way a renewal run or a price change reaches the webhook.
    """
    rng = random.Random(seed)
    per_member = max(1, events // members)
    base = int(time.time()) - 86400
    deliveries: list[dict] = []
    expected: dict[str, tuple[str | None, frozenset[str]]] = {}
    for n in range(members):
        email = member_email(run, n)
        sub_id, customer = f"sub_{run}{n:05d}", f"cus_{run}{n:05d}"
        count = per_member + (1 if n < events - per_member * members else 0)
        history: list[dict] = []
        created = base
        for i in range(count):
            created += rng.randint(1, 5)  # strictly increasing: no same-second ties
            if i == 0:
                kind = CREATED
            elif i == count - 1 and count > 1 and rng.random() < deleted_share:
                kind = DELETED
            else:
                kind = UPDATED
            status = ("canceled" if kind == DELETED
                      else rng.choice(("active", "active", "active", "past_due", "unpaid")))
            prices = rng.sample(PRICES, rng.choice((1, 1, 2)))
            snapshot = _subscription(sub_id, customer, status, prices, created + 30 * 86400)
            history.append(make_event(kind, snapshot, created=created))
        last = history[-1]
        obj = last["data"]["object"]
        if last["type"] == DELETED or obj["status"] not in GRANTING:
            expected[email] = (None, frozenset())
        else:
            groups = frozenset(GROUP_PREFIX + p[-1] for p in
                               (i["price"]["id"] for i in obj["items"]["data"]))
            expected[email] = (sub_id, groups)
        deliveries.extend(history)
    unique = len(deliveries)
    deliveries.extend(rng.sample(deliveries, int(unique * duplicates)))
    rng.shuffle(deliveries)
    if in_order:
        deliveries.sort(key=lambda event: event["created"])
    return Plan(deliveries, expected, members, unique)


# --- Database set-up ----------------------------------------------------------------------

SEED_CODE = """
from members.models import Member, MemberGroup
from payments.models import StripeSettings

if {configure_stripe!r}:
    config = StripeSettings.load()
    config.enabled = True
    config.secret_key = "sk_test_bench0000000000"
    config.publishable_key = "pk_test_bench0000000000"
    config.webhook_secret = {secret!r}
    config.save()
for price in {prices!r}:
    MemberGroup.objects.get_or_create(name={prefix!r} + price[-1],
                                      defaults={{"stripe_price_id": price}})
members = []
for n, email in enumerate({emails!r}):
    member = Member(email=email, name=email.split("@")[0],
                    stripe_customer_id="cus_{run}" + "%05d" % n)
    member.set_unusable_password()
    members.append(member)
Member.objects.bulk_create(members, batch_size=500)
result = Member.objects.filter(email__endswith="@{domain}").count()
"""


def seed(env: dict[str, str], run: str, members: int, *, secret: str = "",
         configure_stripe: bool = True) -> None:
    """Groups for PRICES and ``members`` members with customer IDs (and Stripe settings)."""
    emails = [member_email(run, n) for n in range(members)]
    django_shell(env, SEED_CODE.format(
        configure_stripe=configure_stripe, secret=secret, prices=list(PRICES),
        prefix=GROUP_PREFIX, emails=emails, run=run, domain=EMAIL_DOMAIN,
    ), timeout=300)


# --- Sending ----------------------------------------------------------------------------------

@dataclass
class Stats:
    sent: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    retried_ok: int = 0
    gave_up: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # the answers' "status"
    # Of ``seconds``: after the last answer, until the inbox was drained (queued targets).
    drain_seconds: float = 0.0

    def merge(self, other: Stats) -> None:
        self.sent += other.sent
        self.seconds += other.seconds
        self.drain_seconds += other.drain_seconds
        self.latencies += other.latencies
        self.non_2xx += other.non_2xx
        self.retried_ok += other.retried_ok
        self.gave_up += other.gave_up
        for mine, theirs in ((self.by_status, other.by_status),
                             (self.outcomes, other.outcomes)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _outcome(response: requests.Response) -> str:
    try:
        return str(response.json().get("status"))
    except ValueError:
        return "?"


def send(webhook_url: str, deliveries: list[dict], secret: str, *, threads: int = 8,
         retries: int = 3) -> Stats:
    """POST every delivery, signed at send time; a non-2xx is retried, as Stripe would."""
    jobs: queue.Queue[dict] = queue.Queue()
    for event in deliveries:
        jobs.put(event)
    stats = Stats()
    lock = threading.Lock()

    def worker() -> None:
        http = requests.Session()
        while True:
            try:
                event = jobs.get_nowait()
            except queue.Empty:
                return
            body = encode(event)
            for attempt in range(retries + 1):
                headers = signed_headers(body, secret)
                started = time.perf_counter()
                try:
                    response = http.post(webhook_url, data=body, timeout=60, headers=headers)
                    status = response.status_code
                except requests.RequestException:
                    status = 0
                elapsed = time.perf_counter() - started
                outcome = _outcome(response) if 200 <= status < 300 else ""
                with lock:
                    stats.sent += 1
                    stats.latencies.append(elapsed)
                    stats.by_status[status] = stats.by_status.get(status, 0) + 1
                    if not 200 <= status < 300:
                        stats.non_2xx += 1
                    else:
                        stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
                        stats.retried_ok += 1 if attempt else 0
                if 200 <= status < 300:
                    break
                time.sleep(0.05 * (attempt + 1))
            else:
                with lock:
                    stats.gave_up += 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    stats.seconds = time.perf_counter() - started
    return stats


# --- Checking ---------------------------------------------------------------------------------

def actual_state(database_url: str) -> dict[str, tuple[str | None, frozenset[str]]]:
    rows = query(database_url, """
        SELECT m.email, m.stripe_subscription_id,
               coalesce(array_agg(g.name) FILTER (WHERE ms.source = 'stripe'), '{}')
        FROM members_member m
        LEFT JOIN members_membership ms ON ms.member_id = m.id
        LEFT JOIN members_membergroup g ON g.id = ms.group_id
        WHERE m.email LIKE %s
        GROUP BY m.email, m.stripe_subscription_id
    """, [f"%@{EMAIL_DOMAIN}"])
    return {email: (sub, frozenset(groups)) for email, sub, groups in rows}


def mismatches(database_url: str, plan: Plan) -> list[str]:
    actual = actual_state(database_url)
    wrong = []
    for email, want in sorted(plan.expected.items()):
        got = actual.get(email)
        if got != want:
            wrong.append(f"{email}: expected {want[0]} {sorted(want[1])}, "
                         f"got {got and got[0]} {got and sorted(got[1])}")
    return wrong


def event_rows(database_url: str, plan: Plan) -> int:
    ids = list({event["id"] for event in plan.deliveries})
    return query(database_url, "SELECT count(*) FROM payments_webhookevent "
                               "WHERE event_id = ANY(%s)", [ids])[0][0]


# --- Targets and phases -----------------------------------------------------------------------

@dataclass
class Target:
    name: str  # "floor", "project" or "inline"
    url: str  # the webhook URL
    log_path: Path  # gunicorn's log (access log and the app's own lines)
    # The inbox's database when the target answers first and applies after (the
    # project with STRIPE_WEBHOOK_QUEUE): a phase ends when it is drained.
    queue_database: str | None = None
    drainer_log: Path | None = None  # the drain_webhooks process's log (--drainer process)


@dataclass
class Phase:
    """One target fed one stream: the client's figures and the server's counts."""

    target: str
    replay: bool
    stats: Stats
    statements: int | None  # None: the server log could not be read
    stripe_calls: int
    batches: list[int] = field(default_factory=list)  # the drain's batch sizes (queued)
    slice_rates: list[float] = field(default_factory=list)  # events/s of each slice, in turn
    # CPU seconds by process kind while this phase ran (counters.cpu_seconds); the
    # other target's processes sit idle meanwhile. Empty without /proc.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.target + (" (replay)" if self.replay else "")

    def per_event(self, count: int | None) -> float | None:
        return None if count is None or not self.stats.sent else count / self.stats.sent


def _measure(target: Target, deliveries: list[dict], secret: str, threads: int,
             statement_log: StatementLog | None
             ) -> tuple[Stats, int | None, int, list[int], dict[str, float]]:
    cpu_start = cpu_seconds()
    log_start = log_size(target.log_path)
    drainer_start = log_size(target.drainer_log) if target.drainer_log else 0
    mark = statement_log.mark() if statement_log else 0
    stats = send(target.url, deliveries, secret, threads=threads)
    if target.queue_database:
        # End to end: the phase lasts until every event is applied, not just answered.
        waited = wait_until_drained(target.queue_database)
        stats.seconds += waited
        stats.drain_seconds += waited
        # The drain's work after its last commit (its log lines, one more look at the
        # queue) is this target's CPU, and must not run into the next target's slice.
        time.sleep(DRAIN_SETTLE_SECONDS)
    cpu_end = cpu_seconds()
    cpu = {kind: cpu_end[kind] - cpu_start[kind] for kind in CPU_KINDS} if cpu_end else {}
    time.sleep(0.3)  # the last log lines reach the files
    statements = statement_log.count(mark, statement_log.mark()) if statement_log else None
    calls, batches = stripe_calls(target.log_path, log_start), batch_sizes(target.log_path,
                                                                            log_start)
    if target.drainer_log:
        calls += stripe_calls(target.drainer_log, drainer_start)
        batches += batch_sizes(target.drainer_log, drainer_start)
    return stats, statements, len(calls), batches, cpu


def run_stream(targets: list[Target], deliveries: list[dict], secret: str, threads: int,
               statement_log: StatementLog | None, *, replay: bool, rounds: int
               ) -> list[Phase]:
    """Every target gets the whole stream, slice after slice in turns.

    Turns, so that both targets meet the same load on a shared machine; each target
    still sees the stream in its order.
    """
    phases = [Phase(t.name, replay, Stats(), 0 if statement_log else None, 0)
              for t in targets]
    size = max(1, -(-len(deliveries) // max(1, rounds)))
    for start in range(0, len(deliveries), size):
        for target, phase in zip(targets, phases, strict=True):
            stats, statements, calls, batches, cpu = _measure(
                target, deliveries[start:start + size], secret, threads, statement_log)
            phase.stats.merge(stats)
            phase.slice_rates.append(stats.rate)
            if phase.statements is not None and statements is not None:
                phase.statements += statements
            phase.stripe_calls += calls
            phase.batches += batches
            for kind, seconds in cpu.items():
                phase.cpu[kind] = phase.cpu.get(kind, 0.0) + seconds
    for phase in phases:
        print(f"  {phase.label:<16} {phase.stats.sent} requests in "
              f"{phase.stats.seconds:.1f} s", flush=True)
    return phases


# Not timed: the applying is over; see _measure.
DRAIN_SETTLE_SECONDS = 0.1

# The bench's own polls carry this tag; the statement count leaves them out.
POLL_TAG = "/* bench poll */"


_POLLS: dict[str, Any] = {}  # database URL -> the one connection its polls use


def wait_until_drained(database_url: str, timeout: float = 600) -> float:
    """Seconds until the inbox holds no event still to apply.

    The polls share one connection: a connection each would fork a PostgreSQL backend
    every 2 ms, CPU the project's drain would be charged with.
    """
    import psycopg

    if database_url not in _POLLS:
        _POLLS[database_url] = psycopg.connect(libpq_url(database_url), autocommit=True)
    poll = _POLLS[database_url]
    started = time.perf_counter()
    while poll.execute(f"{POLL_TAG} SELECT EXISTS (SELECT 1 FROM payments_webhookevent "
                       "WHERE status = 'received')").fetchone()[0]:
        if time.perf_counter() - started > timeout:
            raise RuntimeError("the inbox was not drained in time")
        time.sleep(0.002)
    return time.perf_counter() - started


def close_polls() -> None:
    while _POLLS:
        _POLLS.popitem()[1].close()


def apply_lag(database_url: str, plan: Plan) -> tuple[float, float] | None:
    """p50 and p99 (ms) from an event's arrival to its application, for queued targets."""
    ids = list({event["id"] for event in plan.deliveries})
    row = query(database_url, """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)
        FROM (SELECT extract(epoch FROM processed_at - received_at) * 1000 AS lag
              FROM payments_webhookevent WHERE event_id = ANY(%s)) lags
    """, [ids])[0]
    return None if row[0] is None else (row[0], row[1])


def warm_up(target: Target, event: dict, threads: int) -> None:
    """Wake every worker (imports, first connection) with refused deliveries: no state."""
    body = encode(event)
    for _ in range(threads * 2):
        requests.post(target.url, data=body, timeout=60,
                      headers=signed_headers(body, "whsec_not_the_secret"))


# --- The report -----------------------------------------------------------------------------

def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(project: float | None, floor: float | None) -> str:
    return "n/a" if project is None or not floor else f"{project / floor:.2f}x"


def table(phases: list[Phase]) -> str:
    rows = [("target", "events", "events/s", "p50 ms", "p99 ms", "stmts/event",
             "Stripe/event", "answers")]
    by_label = {phase.label: phase for phase in phases}
    for replay in (False, True):
        pair = [by_label.get(name + (" (replay)" if replay else "")) for name in
                ("floor", "project")]
        for phase in filter(None, pair):
            st = phase.stats
            rows.append((phase.label, str(st.sent), f"{st.rate:.0f}",
                         f"{st.percentile(50) * 1000:.1f}", f"{st.percentile(99) * 1000:.1f}",
                         _fmt(phase.per_event(phase.statements), 2),
                         _fmt(phase.per_event(phase.stripe_calls), 2),
                         " ".join(f"{k} {v}" for k, v in sorted(st.outcomes.items()))))
        floor, project = pair
        if floor and project:
            rows.append(("  project/floor", "", _ratio(project.stats.rate, floor.stats.rate),
                         _ratio(project.stats.percentile(50), floor.stats.percentile(50)),
                         _ratio(project.stats.percentile(99), floor.stats.percentile(99)),
                         _ratio(project.per_event(project.statements),
                                floor.per_event(floor.statements)), "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: tuple[str, ...]) -> str:
        cells = (cell.ljust(width) if i in (0, 7) else cell.rjust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
        return "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in rows)


def slice_ratios(phases: list[Phase]) -> str:
    """Each slice's events/s, project/floor: how far apart one run's turns land."""
    by_label = {phase.label: phase for phase in phases}
    streams = []
    for name, suffix in (("in order", ""), ("replay", " (replay)")):
        floor, project = by_label.get("floor" + suffix), by_label.get("project" + suffix)
        if floor and project:
            streams.append(f"{name} " + " ".join(
                _ratio(mine, theirs)
                for mine, theirs in zip(project.slice_rates, floor.slice_rates, strict=True)))
    return ("events/s slice by slice, project/floor: " + "; ".join(streams)) if streams else ""


def cpu_table(phases: list[Phase]) -> str:
    """CPU milliseconds per event by process kind: where each target's time goes."""
    if not all(phase.cpu for phase in phases):
        return "CPU per event: not measured (no /proc)"
    lines = ["CPU ms/event      " + "".join(f"{kind:>10}" for kind in (*CPU_KINDS, "total"))]
    for phase in phases:
        per = [phase.cpu[kind] * 1000 / phase.stats.sent for kind in CPU_KINDS]
        lines.append(f"{phase.label:<17}" + "".join(f"{v:>10.2f}" for v in (*per, sum(per))))
    return "\n".join(lines)


def goals(phases: list[Phase]) -> list[tuple[str, bool | None]]:
    """Issue 9's goals, each met (True), missed (False) or not measured (None)."""
    by = {phase.label: phase for phase in phases}
    floor, project = by["floor"], by["project"]
    floor_replay, replay = by.get("floor (replay)"), by.get("project (replay)")

    def at_most(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    checks = [
        ("events/s >= 0.8x the floor", project.stats.rate >= 0.8 * floor.stats.rate),
        ("p99 <= 1.5x the floor's", project.stats.percentile(99)
         <= 1.5 * floor.stats.percentile(99)),
        ("<= 8 statements per processed event",
         at_most(project.per_event(project.statements), 8)),
        ("0 Stripe calls for in-order events", project.stripe_calls == 0),
    ]
    if replay and floor_replay:
        checks += [
            ("replay events/s >= 0.9x the floor's",
             replay.stats.rate >= 0.9 * floor_replay.stats.rate),
            ("<= 3 statements per duplicate", at_most(replay.per_event(replay.statements), 3)),
        ]
    return checks


# --- The command line -----------------------------------------------------------------------

def _default_database_url() -> str:
    return (os.environ.get("BENCH_DATABASE_URL")
            or (os.environ.get("DATABASE_URL") if is_postgres_url(
                os.environ.get("DATABASE_URL")) else None)
            or "postgres://postgres@127.0.0.1:5432/postgres")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", action="store_true",
                        help="measure checkouts instead (bench/checkout_load.py)")
    parser.add_argument("--checkouts", type=int, default=50, help="with --checkout")
    parser.add_argument("--show-statements", action="store_true",
                        help="with --checkout: print one checkout's SQL statements")
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--conn-max-age", type=int, default=600,
                        help="CONN_MAX_AGE of both targets (seconds; 0: a connection "
                             "per request)")
    parser.add_argument("--shuffle", action="store_true",
                        help="shuffle each subscription's events (default: in order)")
    parser.add_argument("--duplicates", type=float, default=0.0,
                        help="share of the stream sent twice within it (default 0)")
    parser.add_argument("--deleted", type=float, default=0.0,
                        help="share of subscriptions whose last event is a deletion")
    parser.add_argument("--rounds", type=int, default=4,
                        help="the stream goes to the targets in this many slices, in turns")
    parser.add_argument("--no-replay", action="store_true",
                        help="skip the replay (every event a duplicate)")
    parser.add_argument("--no-floor", action="store_true", help="the project alone")
    parser.add_argument("--drainer", choices=("workers", "process"), default="process",
                        help="with the inbox: a drain_webhooks process beside gunicorn "
                             "(default), or the drainer threads in the workers")
    parser.add_argument("--inline", action="store_true",
                        help="the project applies each event before answering "
                             "(STRIPE_WEBHOOK_QUEUE off; default: the inbox, end to end)")
    parser.add_argument("--check-goals", action="store_true",
                        help="exit 1 when one of issue 9's goals is missed, too")
    parser.add_argument("--server-log", help="PostgreSQL's log file, as the server sees it "
                        "(default: pg_current_logfile(), else Debian's)")
    parser.add_argument("--database-url", default=_default_database_url(),
                        help="any database on the PostgreSQL server; a fresh one is made")
    parser.add_argument("--keep", action="store_true",
                        help="keep the benchmark database (and print its URL)")
    parser.add_argument("--seed", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.checkout:
        from bench.checkout_load import main as checkout_main

        return checkout_main(args)

    run = "b" + str(args.seed)
    database_url = create_database(args.database_url, prefix="kuroco_billing_bench")
    database = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    servers = []
    try:
        with tempfile.TemporaryDirectory(prefix="kb-bench-") as logs:
            secret = "whsec_bench" + os.urandom(12).hex()
            # No emulator: strictly increasing event times never need a fetch. LOG_LEVEL
            # INFO as in production: the stripe_call lines are how calls are counted.
            env = app_env(database_url, "http://127.0.0.1:9", LOG_LEVEL="INFO",
                          CONN_MAX_AGE=str(args.conn_max_age))
            manage(env, "migrate", "--noinput")
            seed(env, run, args.members, secret=secret)
            query(database_url, CREATE_FLOOR_TABLE)
            plan = build_plan(run, args.members, args.events, duplicates=args.duplicates,
                              deleted_share=args.deleted, in_order=not args.shuffle,
                              seed=args.seed)
            statement_log, why = StatementLog.locate(admin_url, database, args.server_log)
            if statement_log:
                statement_log.enable()
            else:
                print(f"statements not counted: {why}", file=sys.stderr)

            targets = []
            for name, extra, path in (
                ("floor", {"DJANGO_SETTINGS_MODULE": "bench.floor.settings",
                           "FLOOR_WEBHOOK_SECRET": secret}, "/floor/webhook/"),
                ("project", {"STRIPE_WEBHOOK_QUEUE": "false" if args.inline else "true"},
                 "/direct/stripe/webhook/"),
            ):
                if name == "floor" and args.no_floor:
                    continue
                log_dir = Path(logs) / name
                log_dir.mkdir()
                if name == "project" and args.drainer == "process":
                    extra["STRIPE_WEBHOOK_DRAIN_IN_WORKERS"] = "false"
                    drainer = Process("drainer", [PYTHON, "manage.py", "drain_webhooks",
                                                  "--forever"],
                                      {**env, **extra}, log_dir / "drainer.log").start()
                    servers.append(drainer)
                    # Its start-up (Django, the collector's freeze) charged to no slice.
                    drainer.wait_until(
                        lambda log=drainer.log: "webhook_drain_started" in log(), "started")
                server, url = start_gunicorn({**env, **extra}, log_dir, workers=args.workers,
                                             port=free_port())
                servers.append(server)
                queued = name == "project" and not args.inline
                targets.append(Target(name, url + path, server.log_path,
                                      database_url if queued else None,
                                      log_dir / "drainer.log" if queued and
                                      args.drainer == "process" else None))
            print(f"machine: {machine(admin_url)}")
            print(f"{len(targets)} targets, gunicorn {args.workers} sync workers each, "
                  f"CONN_MAX_AGE={args.conn_max_age}, {args.threads} client threads; "
                  f"{len(plan.deliveries)} events "
                  f"({'shuffled' if args.shuffle else 'in order'}) for {args.members} members",
                  flush=True)
            for target in targets:
                warm_up(target, plan.deliveries[0], args.threads)
            phases = run_stream(targets, plan.deliveries, secret, args.threads,
                                statement_log, replay=False, rounds=args.rounds)
            if not args.no_replay:
                phases += run_stream(targets, plan.deliveries, secret, args.threads,
                                     statement_log, replay=True, rounds=args.rounds)
            print(f"machine after: {machine(admin_url)}")
            lag = None if args.inline else apply_lag(database_url, plan)
            wrong = mismatches(database_url, plan)
            stored = event_rows(database_url, plan)
            close_polls()
            for server in servers:
                server.stop()
        print()
        print(table(phases))
        if ratios := slice_ratios(phases):
            print(ratios)
        print()
        print(cpu_table(phases))
        print()
        print("project applies " + (
            "each event before answering (STRIPE_WEBHOOK_QUEUE off)" if args.inline else
            "after answering, from the inbox (STRIPE_WEBHOOK_QUEUE): events/s is end to end, "
            "until the last event was applied; p50/p99 are the answers' "
            f"({batch_summary(phases)}; drain after the last answer: "
            f"{project_drain(phases):.2f} s; arrival to "
            f"applied: p50 {lag[0]:.0f} ms, p99 {lag[1]:.0f} ms)"))
        print()
        project = next(phase for phase in phases if phase.label == "project")
        print(report(plan, project.stats, wrong, stored))
        met = goals(phases) if not args.no_floor else []
        for goal, ok in met:
            print(f"goal {'met   ' if ok else 'MISSED' if ok is False else 'n/a   '} {goal}")
        ok = not wrong and stored == plan.unique_events and all(
            phase.stats.gave_up == 0 for phase in phases)
        print("RESULT", "OK" if ok else "WRONG END STATE")
        if args.check_goals and any(result is False for _, result in met):
            return 1
        return 0 if ok else 1
    finally:
        close_polls()
        for server in servers:
            server.stop()
        if args.keep:
            print(f"kept database {database_url}")
        else:
            drop_database(database_url)


def batch_summary(phases: list[Phase]) -> str:
    sizes = next(p.batches for p in phases if p.label == "project")
    if not sizes:
        return "no batch seen in the log"
    return (f"{len(sizes)} batches of {sum(sizes) / len(sizes):.1f} events on average, "
            f"at most {max(sizes)}")


def project_drain(phases: list[Phase]) -> float:
    return next(p.stats.drain_seconds for p in phases if p.label == "project")


def report(plan: Plan, stats: Stats, wrong: list[str], stored: int) -> str:
    """The project's stream, in words: what was sent and how every member ended."""
    return "\n".join([
        f"members/subscriptions  {plan.subscriptions}",
        f"events                 {plan.unique_events} unique, {len(plan.deliveries)} sent",
        f"non-2xx answers        {stats.non_2xx} (statuses {json.dumps(stats.by_status)}; "
        f"{stats.retried_ok} succeeded on retry, {stats.gave_up} gave up)",
        f"stored events          {stored} (expected {plan.unique_events})",
        f"members in wrong state {len(wrong)}",
        *wrong[:20],
    ])


if __name__ == "__main__":
    raise SystemExit(main())
