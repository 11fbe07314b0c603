"""Small network checks for `make run`.

    python -m kuroco_billing.devtools.net wait URL [--timeout SECONDS] [--pid PID]
        Exit 0 once URL answers HTTP at all (any status); 1 on timeout, or as soon
        as process PID has exited (a server that crashed at start-up).
    python -m kuroco_billing.devtools.net busy HOST:PORT
        Exit 0 when something already listens on HOST:PORT, 1 when it is free.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.error
import urllib.request


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 (a local URL we chose)
    except urllib.error.HTTPError:
        return True  # 401 or 404 still means "up"
    except (OSError, ValueError):
        return False
    return True


def listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited child the shell has not reaped yet is a zombie: it no longer serves.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def wait(url: str, timeout: float, pid: int | None) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(url):
            return 0
        if pid and not alive(pid):
            print(f"The process that should serve {url} has exited.", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"{url} did not answer within {timeout:g}s.", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kuroco_billing.devtools.net")
    commands = parser.add_subparsers(dest="command", required=True)
    wait_parser = commands.add_parser("wait", help="wait until a URL answers HTTP")
    wait_parser.add_argument("url")
    wait_parser.add_argument("--timeout", type=float, default=30.0)
    wait_parser.add_argument("--pid", type=int, help="give up as soon as this process exits")
    busy_parser = commands.add_parser("busy", help="is something listening on HOST:PORT?")
    busy_parser.add_argument("address", help="HOST:PORT")
    args = parser.parse_args(argv)

    if args.command == "wait":
        return wait(args.url, args.timeout, args.pid)
    host, _, port = args.address.rpartition(":")
    return 0 if listening(host or "127.0.0.1", int(port)) else 1


if __name__ == "__main__":
    sys.exit(main())
