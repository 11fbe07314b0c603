"""Shared helpers for the emulator tests: prices, paying on the hosted page, a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
import stripe

GOOD = "4242 4242 4242 4242"
DECLINE = "4000 0000 0000 0002"
INSUFFICIENT = "4000 0000 0000 9995"
FAIL_LATER = "4000 0000 0000 0341"
DAY = 86400


def monthly_price(client: stripe.StripeClient, amount: int = 1000, name: str = "Gold",
                  interval: str = "month") -> stripe.Price:
    return client.v1.prices.create(params={
        "currency": "jpy", "unit_amount": amount, "recurring": {"interval": interval},
        "product_data": {"name": name}})


def subscription_session(client: stripe.StripeClient, price_id: str, **extra: Any
                         ) -> stripe.checkout.Session:
    params: dict[str, Any] = {
        "mode": "subscription", "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": "http://127.0.0.1:9/done?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:9/cancel",
    }
    if "customer" not in extra:
        params["customer_email"] = "member@example.com"
    params.update(extra)
    return client.v1.checkout.sessions.create(params=params)


def card_form(number: str = GOOD, **overrides: str) -> dict[str, str]:
    form = {"card_number": number, "card_expiry": "12/34", "card_cvc": "123",
            "cardholder_name": "Taro Yamada"}
    form.update(overrides)
    return form


def pay(url: str, number: str = GOOD, **overrides: str) -> requests.Response:
    """POST the hosted page's form the way a browser does, without following the redirect."""
    return requests.post(url, data=card_form(number, **overrides), allow_redirects=False,
                         timeout=10)


def subscribe(client: stripe.StripeClient, number: str = GOOD, **extra: Any
              ) -> tuple[stripe.checkout.Session, stripe.Subscription]:
    price = monthly_price(client)
    session = subscription_session(client, price.id, **extra)
    response = pay(session.url, number)
    assert response.status_code == 303, response.text
    session = client.v1.checkout.sessions.retrieve(session.id)
    return session, client.v1.subscriptions.retrieve(session.subscription)


def event_types(client: stripe.StripeClient, **params: Any) -> list[str]:
    """Event types, oldest first."""
    events = client.v1.events.list(params={"limit": 100, **params})
    return [e.type for e in reversed(events.data)]


class Receiver:
    """A tiny webhook receiver: records every POST; answers with the scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append({"body": body, "headers": dict(self.headers),
                                              "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, ok_only: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.received
                    if not ok_only or r["status"] < 300]

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events()) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
