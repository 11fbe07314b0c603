"""``python -m stripe_emulator [--host 127.0.0.1] [--port 12111] [--state PATH]
[--allow-remote-webhooks]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from .keys import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY
from .server import build, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stripe_emulator",
                                     description="A local, stateful Stripe stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--state", default=None,
                        help="JSON file that keeps state across restarts (default: memory)")
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    parser.add_argument("--publishable-key", default=DEFAULT_PUBLISHABLE_KEY)
    parser.add_argument("--webhook-max-attempts", type=int, default=5)
    parser.add_argument("--webhook-backoff", type=float, default=1.0,
                        help="seconds; attempt n waits backoff * 2**(n-1)")
    parser.add_argument("--webhook-timeout", type=float, default=5.0)
    parser.add_argument("--chaos-seed", type=int, default=None,
                        help="seed for chaos delivery's shuffling (default: random)")
    parser.add_argument("--allow-remote-webhooks", action="store_true",
                        help="also send webhooks to hosts other than loopback and localhost")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    emulator = build(args.state, secret_key=args.secret_key,
                     publishable_key=args.publishable_key,
                     webhook_max_attempts=args.webhook_max_attempts,
                     webhook_backoff=args.webhook_backoff, webhook_timeout=args.webhook_timeout,
                     chaos_seed=args.chaos_seed,
                     allow_remote_webhooks=args.allow_remote_webhooks)
    server = serve(emulator, args.host, args.port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"Stripe emulator on http://{args.host}:{server.server_port} "
          f"(dashboard at /, state: {args.state or 'memory'})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
