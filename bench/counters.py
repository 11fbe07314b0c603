"""What the server did per event: SQL statements and Stripe calls (docs/performance.md).

Statements from PostgreSQL's own log (``log_statement = 'all'`` on the bench database,
read through the server); Stripe calls from the workers' ``stripe_call`` log lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kuroco_billing.devtools.processes import query

# A statement as log_statement=all writes it: simple protocol, or extended protocol's execute.
STATEMENT = re.compile(rb" LOG:  (?:statement: |execute [^:]*: )")
STRIPE_CALL = re.compile(rb"stripe_call method=\S+ resource=\S+ .*?duration_ms=(\d+(?:\.\d+)?)"
                         rb".*? member=(\S+)")


@dataclass
class StatementLog:
    """The PostgreSQL server log, read through the server (no file access needed)."""

    admin_url: str  # a connection to another database than the counted one
    database: str
    path: str
    by_database: bool  # log_line_prefix has %d: lines of other databases can be told apart
    ignore: bytes = b"/* bench poll */"  # the bench's own statements on the counted database

    @classmethod
    def locate(cls, admin_url: str, database: str, path: str | None = None
               ) -> tuple[StatementLog | None, str]:
        """The log of the server, or None and the reason it cannot be read."""
        (data_dir, prefix, current, major), = query(admin_url, """
            SELECT current_setting('data_directory'), current_setting('log_line_prefix'),
                   pg_current_logfile(), current_setting('server_version_num')::int / 10000
        """)
        candidates = [path] if path else [
            current and str(Path(data_dir) / current),
            f"/var/log/postgresql/postgresql-{major}-main.log",  # Debian's pg_ctlcluster
        ]
        for candidate in filter(None, candidates):
            try:
                query(admin_url, "SELECT size FROM pg_stat_file(%s)", [candidate])
            except Exception as exc:  # not there, not readable, not a superuser
                reason = f"cannot read {candidate}: {str(exc).splitlines()[0]}"
                continue
            return cls(admin_url, database, candidate, "%d" in prefix), ""
        return None, reason if candidates else "no server log found"

    def enable(self) -> None:
        """Log every statement of the bench database (new sessions only: before gunicorn).

        Without the parameters' values: only statements are counted, and a payload in
        every line would charge each target for log volume production does not write.
        """
        for name, value in (("log_statement", "all"), ("log_parameter_max_length", "0")):
            query(self.admin_url, f'ALTER DATABASE "{self.database}" SET {name} = \'{value}\'')

    def mark(self) -> int:
        return query(self.admin_url, "SELECT size FROM pg_stat_file(%s)", [self.path])[0][0]

    def count(self, start: int, end: int) -> int:
        """Statements the bench database's sessions sent between two marks."""
        return len(self.statements(start, end))

    def statements(self, start: int, end: int) -> list[str]:
        """The statements themselves (first line of each), as the server logged them."""
        data = query(self.admin_url, "SELECT pg_read_binary_file(%s, %s, %s)",
                     [self.path, start, end - start])[0][0]
        tag = f"@{self.database} ".encode()
        lines = bytes(data).split(b"\n")
        found = []
        for n, line in enumerate(lines):
            match = STATEMENT.search(line)
            if match and (not self.by_database or tag in line) and self.ignore not in line:
                # A statement that starts with a newline goes on in the next lines.
                text = line[match.end():].strip() or lines[min(n + 1, len(lines) - 1)].strip()
                found.append(text.decode(errors="replace"))
        return found


@dataclass
class StripeCall:
    member: str
    duration_ms: float


def stripe_calls(log_path: Path, start: int = 0) -> list[StripeCall]:
    """The ``stripe_call`` lines of a gunicorn log from byte ``start`` on."""
    with log_path.open("rb") as log:
        log.seek(start)
        data = log.read()
    return [StripeCall(m.group(2).decode(), float(m.group(1))) for m in STRIPE_CALL.finditer(data)]


# The drain's line for each batch it applied.
BATCH = re.compile(rb"webhook_batch events=(\d+) ")


def batch_sizes(log_path: Path, start: int = 0) -> list[int]:
    """The size of each batch the inbox's drains applied, from byte ``start`` on."""
    with log_path.open("rb") as log:
        log.seek(start)
        data = log.read()
    return [int(m.group(1)) for m in BATCH.finditer(data)]


def log_size(log_path: Path) -> int:
    return log_path.stat().st_size if log_path.exists() else 0


def machine(admin_url: str) -> str:
    """One line for the record: CPUs, CPU model, PostgreSQL version, load average."""
    import os

    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = query(admin_url, "SHOW server_version")[0][0]
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({model}), PostgreSQL {version}, load average {load}"


# --- CPU by process kind (Linux /proc) -------------------------------------------------------

CPU_KINDS = ("client", "app", "drainer", "postgres")


def cpu_seconds() -> dict[str, float] | None:
    """CPU seconds (user + system) used so far by each kind of process on this machine.

    client: this bench process (its sender threads); app: every gunicorn process;
    drainer: drain_webhooks; postgres: every PostgreSQL server process. None without /proc.
    """
    import os

    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(CPU_KINDS, 0.0)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # ended meanwhile, or not ours to read
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        if int(entry.name) == os.getpid():
            kind = "client"
        elif name.startswith("postgres") or cmdline.startswith(b"postgres"):
            kind = "postgres"
        elif b"gunicorn" in cmdline:
            kind = "app"
        elif b"drain_webhooks" in cmdline:
            kind = "drainer"
        else:
            continue
        used[kind] += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return used
