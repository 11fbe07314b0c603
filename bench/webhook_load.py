"""Webhook load held: thousands of signed subscription events, duplicated and shuffled.

Starts gunicorn (2 workers) on a fresh PostgreSQL database, creates members that each
have a Stripe customer ID and groups linked to a few price IDs, then sends a burst of
``customer.subscription.created/updated/deleted`` events from several threads over
loopback: every subscription's events in random order, a share of them twice. It
prints events/s, p50/p99 latency and the non-2xx count, then checks that every member
ends in exactly the groups of their subscription's newest event (by ``created``), and
exits 1 if one does not.

Each subscription's events have strictly increasing ``created`` times, so ordering never
needs a fetch from Stripe and no emulator runs; same-second ties (settled by fetching the
subscription) are covered by tests/reliability/test_concurrency.py.

    .venv/bin/python bench/webhook_load.py --members 300 --events 6000 --threads 8
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

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.processes import (
    app_env,
    create_database,
    django_shell,
    drop_database,
    encode,
    free_port,
    is_postgres_url,
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
               deleted_share: float = 0.2, seed: int = 1) -> Plan:
    """One subscription per member, ``events`` events in all (before duplicates)."""
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

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


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
                started = time.perf_counter()
                try:
                    response = http.post(webhook_url, data=body, timeout=60,
                                         headers=signed_headers(body, secret))
                    status = response.status_code
                except requests.RequestException:
                    status = 0
                elapsed = time.perf_counter() - started
                with lock:
                    stats.sent += 1
                    stats.latencies.append(elapsed)
                    stats.by_status[status] = stats.by_status.get(status, 0) + 1
                    if not 200 <= status < 300:
                        stats.non_2xx += 1
                    elif attempt:
                        stats.retried_ok += 1
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


# --- The command line -----------------------------------------------------------------------

def report(plan: Plan, stats: Stats, wrong: list[str], stored: int) -> str:
    return "\n".join([
        f"members/subscriptions  {plan.subscriptions}",
        f"events                 {plan.unique_events} unique, {len(plan.deliveries)} sent "
        f"with duplicates",
        f"requests               {stats.sent} in {stats.seconds:.1f} s "
        f"({stats.rate:.0f} events/s)",
        f"latency                p50 {stats.percentile(50) * 1000:.1f} ms, "
        f"p99 {stats.percentile(99) * 1000:.1f} ms, "
        f"max {max(stats.latencies, default=0) * 1000:.1f} ms",
        f"non-2xx answers        {stats.non_2xx} (statuses {json.dumps(stats.by_status)}; "
        f"{stats.retried_ok} succeeded on retry, {stats.gave_up} gave up)",
        f"stored events          {stored} (expected {plan.unique_events})",
        f"members in wrong state {len(wrong)}",
        *wrong[:20],
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--database-url",
                        default=os.environ.get("BENCH_DATABASE_URL")
                        or (os.environ.get("DATABASE_URL") if is_postgres_url(
                            os.environ.get("DATABASE_URL")) else None)
                        or "postgres://postgres@127.0.0.1:5432/postgres",
                        help="any database on the PostgreSQL server; a fresh one is made")
    parser.add_argument("--keep", action="store_true",
                        help="keep the benchmark database (and print its URL)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    run = "b" + str(args.seed)
    database_url = create_database(args.database_url, prefix="kuroco_billing_bench")
    server = None
    try:
        with tempfile.TemporaryDirectory(prefix="kb-bench-") as logs:
            secret = "whsec_bench" + os.urandom(12).hex()
            # No emulator: strictly increasing event times never need a fetch.
            env = app_env(database_url, "http://127.0.0.1:9", LOG_LEVEL="WARNING")
            manage(env, "migrate", "--noinput")
            seed(env, run, args.members, secret=secret)
            plan = build_plan(run, args.members, args.events, seed=args.seed)
            server, url = start_gunicorn(env, Path(logs), workers=args.workers,
                                         port=free_port())
            print(f"gunicorn {args.workers} workers at {url}, {args.threads} client threads, "
                  f"{os.cpu_count()} CPUs", flush=True)
            stats = send(f"{url}/direct/stripe/webhook/", plan.deliveries, secret,
                         threads=args.threads)
            wrong = mismatches(database_url, plan)
            stored = event_rows(database_url, plan)
            print(report(plan, stats, wrong, stored))
            server.stop()
            server = None
        ok = not wrong and stored == plan.unique_events and stats.gave_up == 0
        print("RESULT", "OK" if ok else "WRONG END STATE")
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept database {database_url}")
        else:
            drop_database(database_url)


if __name__ == "__main__":
    raise SystemExit(main())
