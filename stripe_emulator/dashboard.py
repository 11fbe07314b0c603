"""The HTML dashboard: the Stripe steps of the Kuroco tutorial, offline.

Pages: API keys, Webhooks (add, disable, delete an endpoint, reveal its signing secret,
deliveries, chaos), Products (add a product or a price, copy the price id), Customers,
Subscriptions, Events. Forms post
back to the emulator itself; there is no auth because it only listens locally.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import billing
from .context import Ctx
from .errors import StripeError
from .resources import prices, products, subscriptions, webhook_endpoints
from .resources.invoices import format_amount, subscription_of
from .templates import esc, field, layout, select, status_badge, table
from .templates.checkout import interval_text

if TYPE_CHECKING:
    from .app import EmulatorApp

View = Callable[..., Response]
PERIODS = [("month", "Monthly"), ("year", "Yearly"), ("week", "Weekly"), ("day", "Daily"),
           ("one_time", "One time")]
DASHBOARD_EVENTS = [
    "checkout.session.completed", "customer.created", "customer.subscription.created",
    "customer.subscription.updated", "customer.subscription.deleted", "invoice.paid",
    "invoice.payment_failed",
]


def when(ts: int | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def html(body: str, title: str, status: int = 200) -> Response:
    return Response(layout(title, body), status=status, content_type="text/html; charset=utf-8")


def link(kind: str, object_id: str | None) -> str:
    if not object_id:
        return "—"
    return f'<a class="id" href="/{kind}/{esc(object_id)}"><code>{esc(object_id)}</code></a>'


FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" '
    'rx="7" fill="#635bff"/><text x="16" y="22" font-family="system-ui,sans-serif" '
    'font-size="16" font-weight="700" fill="#fff" text-anchor="middle">S</text></svg>'
)


def favicon(request: Request) -> Response:
    """Browsers ask every page's host for one; a 404 would log an error on each page."""
    return Response(FAVICON, content_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


def not_found(what: str, object_id: str) -> Response:
    return html(f"<h1>Not found</h1><p>No such {esc(what)}: {esc(object_id)}</p>", "Not found",
                404)


def price_params_from(form: Any) -> dict[str, Any]:
    """The price of the dashboard's forms: amount, currency, billing period."""
    interval = form.get("interval", "month")
    params: dict[str, Any] = {
        "unit_amount": form.get("amount", "").strip(),
        "currency": form.get("currency", "jpy").strip() or "jpy",
    }
    if interval != "one_time":
        params["recurring"] = {"interval": interval}
    return params


def shared_urls(endpoints: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """URLs that more than one enabled endpoint sends to (the app holds one secret for each);
    a disabled endpoint sends nothing, so it is not counted."""
    by_url: dict[str, list[dict[str, Any]]] = {}
    for endpoint in endpoints:
        if endpoint["status"] == "enabled":
            by_url.setdefault(endpoint["url"], []).append(endpoint)
    return {url: group for url, group in by_url.items() if len(group) > 1}


ONE_SECRET = ("The app keeps one signing secret for its webhook URL, so every delivery signed "
              "by another endpoint fails its signature check (400). Keep the endpoint whose "
              "signing secret is in the app; disable or delete the others.")


def shared_url_warnings(endpoints: list[dict[str, Any]]) -> str:
    return "".join(
        f'<p class="warning" role="alert">{len(group)} enabled endpoints send to <code>{esc(url)}'
        f"</code>: "
        + ", ".join(link("webhooks", e["id"]) for e in group)
        + f". {esc(ONE_SECRET)}</p>"
        for url, group in shared_urls(endpoints).items())


def routes(app: EmulatorApp) -> list[tuple[str, list[str], View]]:
    d = Dashboard(app)
    return [
        ("/", ["GET"], d.home),
        ("/favicon.ico", ["GET"], favicon),
        ("/clock", ["POST"], d.advance),
        ("/apikeys", ["GET"], d.api_keys),
        ("/webhooks", ["GET", "POST"], d.webhooks),
        ("/webhooks/<id>", ["GET"], d.webhook),
        ("/webhooks/<id>/reveal", ["POST"], d.reveal),
        ("/webhooks/<id>/chaos", ["POST"], d.chaos),
        ("/webhooks/<id>/status", ["POST"], d.endpoint_status),
        ("/webhooks/<id>/delete", ["POST"], d.delete_endpoint),
        ("/products", ["GET", "POST"], d.products),
        ("/products/<id>", ["GET"], d.product),
        ("/products/<id>/prices", ["POST"], d.add_price),
        ("/customers", ["GET"], d.customers),
        ("/customers/<id>", ["GET"], d.customer),
        ("/subscriptions", ["GET"], d.subscriptions),
        ("/subscriptions/<id>", ["GET"], d.subscription),
        ("/subscriptions/<id>/cancel", ["POST"], d.cancel_subscription),
        ("/events", ["GET"], d.events),
        ("/events/<id>", ["GET"], d.event),
    ]


class Dashboard:
    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.store = app.store

    def ctx(self, request: Request) -> Ctx:
        return Ctx(self.store, request.host_url.rstrip("/"),
                   allow_remote_webhooks=self.app.allow_remote_webhooks)

    # -- home, clock, keys -----------------------------------------------------------------

    def home(self, request: Request, error: str = "") -> Response:
        counts = {kind: len(self.store.all(kind)) for kind in
                  ("product", "customer", "subscription", "event", "webhook_endpoint")}
        rows = [[esc(k.replace("_", " ")), str(v)] for k, v in counts.items()]
        body = (
            "<h1>Stripe emulator</h1>"
            '<p>A local stand-in for Stripe (test mode). Follow the tutorial: copy the '
            '<a href="/apikeys">API keys</a>, add a <a href="/products">product</a>, add a '
            '<a href="/webhooks">webhook endpoint</a>.</p>'
            f'<section class="card"><h2>Clock</h2><p>Emulator time: <strong id="clock">'
            f"{esc(when(self.store.now()))}</strong></p>"
            + (f'<p class="error" role="alert">{esc(error)}</p>' if error else "")
            + '<form method="post" action="/clock">'
            + field("days", "Days to advance", kind="number", value="1",
                    extra=f'min="0" max="{billing.MAX_ADVANCE_SECONDS // 86400}" step="any"')
            + '<button type="submit">Advance clock</button></form></section>'
            + table(["Objects", "Count"], rows)
        )
        return html(body, "Stripe emulator", 400 if error else 200)

    def advance(self, request: Request) -> Response:
        max_days = billing.MAX_ADVANCE_SECONDS // 86400
        raw = request.form.get("days", "").strip()
        try:
            days = float(raw or 0)
        except ValueError:
            days = math.nan
        if not math.isfinite(days) or not 0 <= days <= max_days:
            return self.home(request, f"Days to advance must be a number from 0 to {max_days}.")
        try:
            billing.advance(self.store, days * 86400, param="days")
        except StripeError as exc:
            return self.home(request, exc.message)
        return redirect("/", 303)  # type: ignore[return-value]

    def api_keys(self, request: Request) -> Response:
        body = (
            "<h1>API keys</h1><p>Copy these into the app's settings (test mode).</p>"
            '<section class="card"><h2>Standard keys</h2>'
            f'<p>Publishable key<br><code id="publishable-key">{esc(self.app.publishable_key)}'
            "</code></p>"
            f'<p>Secret key<br><code id="secret-key">{esc(self.app.secret_key)}</code></p>'
            f'<p>API base URL<br><code id="api-base">{esc(request.host_url.rstrip("/"))}'
            "</code></p></section>"
        )
        return html(body, "API keys")

    # -- webhooks ----------------------------------------------------------------------------

    def webhooks(self, request: Request) -> Response:
        error = ""
        if request.method == "POST":
            params: dict[str, Any] = {
                "url": request.form.get("url", "").strip(),
                "description": request.form.get("description", ""),
                "enabled_events": request.form.getlist("enabled_events"),
            }
            if "*" in params["enabled_events"]:
                params["enabled_events"] = ["*"]
            try:
                with self.store.transaction():
                    created = webhook_endpoints.create(self.ctx(request), params)
                return redirect(f"/webhooks/{created['id']}", 303)  # type: ignore[return-value]
            except StripeError as exc:
                error = f'<p class="error" role="alert">{esc(exc.message)}</p>'
        endpoints = self.store.all("webhook_endpoint")
        rows = [[link("webhooks", e["id"]), esc(e["url"]), status_badge(e["status"]),
                 esc(", ".join(e["enabled_events"]))] for e in endpoints]
        boxes = "".join(
            f'<div class="check"><input type="checkbox" id="event-{esc(name)}" '
            f'name="enabled_events" value="{esc(name)}"><label for="event-{esc(name)}">'
            f"{esc(name)}</label></div>"
            for name in ["*", *webhook_endpoints.EMITTED_EVENTS])
        body = (
            f"<h1>Webhooks</h1>{error}{shared_url_warnings(endpoints)}"
            + table(["Endpoint", "URL", "Status", "Events"], rows, "No endpoints yet.")
            + '<form class="card" method="post" action="/webhooks"><h2>Add endpoint</h2>'
            + field("url", "Endpoint URL", kind="url", required=True,
                    extra='placeholder="https://example.com/stripe/webhook"')
            + field("description", "Description")
            + "<fieldset><legend>Events to send</legend>" + boxes + "</fieldset>"
            + '<button type="submit">Add endpoint</button></form>'
        )
        return html(body, "Webhooks", 400 if error else 200)

    def webhook(self, request: Request, id: str, secret: str | None = None) -> Response:
        endpoint = self.store.get("webhook_endpoint", id)
        if endpoint is None:
            return html(f"<h1>Not found</h1><p>No such webhook endpoint: {esc(id)}</p>",
                        "Not found", 404)
        chaos = bool(self.store.private["chaos"].get(id))
        if secret:
            secret_html = f'<p>Signing secret<br><code id="signing-secret">{esc(secret)}</code></p>'
        else:
            secret_html = (f'<form method="post" action="/webhooks/{esc(id)}/reveal">'
                           "<p>Signing secret: <span class=muted>whsec_••••••••</span></p>"
                           '<button type="submit">Reveal signing secret</button></form>')
        attempts = [d for d in self.store.deliveries() if d["endpoint"] == id][::-1][:200]
        rows = [[link("events", a["event"]), esc(a["event_type"]), str(a["attempt"]),
                 str(a["copy"]),
                 f'<span class="{"ok" if a["ok"] else "bad"}">{esc(a["status"] or a["error"])}'
                 "</span>", esc(when(int(a["time"])))] for a in attempts]
        body = (
            f"<h1>Webhook endpoint</h1><p><code>{esc(id)}</code> {status_badge(endpoint['status'])}"
            f"</p>{self._shared_url_warning(endpoint)}"
            f"<section class=card><p>URL: <code>{esc(endpoint['url'])}</code></p>"
            f"<p>Description: {esc(endpoint['description'] or '—')}</p>"
            f"<p>Events: {esc(', '.join(endpoint['enabled_events']))}</p>{secret_html}"
            f"{endpoint_controls(endpoint)}"
            f'<form method="post" action="/webhooks/{esc(id)}/chaos">'
            f'<input type="hidden" name="enabled" value="{"false" if chaos else "true"}">'
            f"<p>Chaos delivery is <strong id=chaos-state>{'on' if chaos else 'off'}</strong>: "
            + ("each event is sent twice and events are shuffled, as Stripe may do."
               if chaos else "each event is sent once, in the order it happened.")
            + "</p>"
            f'<button type="submit" class="secondary">'
            f'{"Disable chaos delivery" if chaos else "Enable chaos delivery"}</button></form>'
            "</section><h2>Delivery attempts</h2>"
            + table(["Event", "Type", "Attempt", "Copy", "Result", "Time"], rows,
                    "No delivery attempts yet.")
        )
        return html(body, "Webhook endpoint")

    def _shared_url_warning(self, endpoint: dict[str, Any]) -> str:
        group = shared_urls(self.store.all("webhook_endpoint")).get(endpoint["url"], [])
        others = [e for e in group if e["id"] != endpoint["id"]]
        if not others or endpoint["status"] != "enabled":
            return ""
        ids = ", ".join(link("webhooks", e["id"]) for e in others)
        return (f'<p class="warning" role="alert">Also enabled for this URL: {ids}. '
                f"{esc(ONE_SECRET)}</p>")

    def endpoint_status(self, request: Request, id: str) -> Response:
        if self.store.get("webhook_endpoint", id) is None:
            return not_found("webhook endpoint", id)
        disabled = request.form.get("disabled", "")
        try:
            with self.store.transaction():
                webhook_endpoints.update(self.ctx(request), {"disabled": disabled}, id)
        except StripeError as exc:
            return html(f'<h1>Webhook endpoint</h1><p class="error" role="alert">'
                        f"{esc(exc.message)}</p>", "Webhook endpoint", 400)
        return redirect(f"/webhooks/{id}", 303)  # type: ignore[return-value]

    def delete_endpoint(self, request: Request, id: str) -> Response:
        if self.store.get("webhook_endpoint", id) is None:
            return not_found("webhook endpoint", id)
        with self.store.transaction():
            webhook_endpoints.delete(self.ctx(request), {}, id)
        return redirect("/webhooks", 303)  # type: ignore[return-value]

    def reveal(self, request: Request, id: str) -> Response:
        secret = self.store.private["endpoint_secrets"].get(id)
        return self.webhook(request, id, secret=secret)

    def chaos(self, request: Request, id: str) -> Response:
        if self.store.get("webhook_endpoint", id) is not None:
            self.app.set_chaos(id, request.form.get("enabled", "true") == "true")
        return redirect(f"/webhooks/{id}", 303)  # type: ignore[return-value]

    # -- products ----------------------------------------------------------------------------

    def products(self, request: Request) -> Response:
        error = ""
        if request.method == "POST":
            form = request.form
            price_params = price_params_from(form)
            try:
                with self.store.transaction():
                    ctx = self.ctx(request)
                    if not form.get("name", "").strip():
                        raise StripeError(400, "Enter a product name.", param="name")
                    price_params["product_data"] = {"name": "check"}  # validate before writing
                    prices.price_from_params(ctx, price_params)
                    del price_params["product_data"]
                    product = products.create(ctx, {"name": form["name"].strip(),
                                                    "description": form.get("description", "")})
                    price = prices.create(ctx, {**price_params, "product": product["id"]})
                    products.update(ctx, {"default_price": price["id"]}, product["id"])
                return redirect(f"/products/{product['id']}", 303)  # type: ignore[return-value]
            except StripeError as exc:
                error = f'<p class="error" role="alert">{esc(exc.message)}</p>'
        rows = [[link("products", p["id"]), esc(p["name"]), self._price_lines(p["id"]),
                 status_badge("active" if p["active"] else "archived")]
                for p in self.store.all("product")]
        body = (
            f"<h1>Products</h1>{error}"
            + table(["Product", "Name", "Prices", "Status"], rows, "No products yet.")
            + '<form class="card" method="post" action="/products"><h2>Add product</h2>'
            + field("name", "Name", required=True)
            + field("description", "Description")
            + field("amount", "Price amount", kind="number", required=True, extra='min="0"')
            + select("currency", "Currency", [("jpy", "JPY"), ("usd", "USD"), ("eur", "EUR")])
            + select("interval", "Billing period", PERIODS)
            + '<button type="submit">Add product</button></form>'
        )
        return html(body, "Products", 400 if error else 200)

    def _price_lines(self, product_id: str) -> str:
        lines = [f'<code class="price-id">{esc(p["id"])}</code> '
                 f'{esc(format_amount(p["unit_amount"], p["currency"]))} '
                 f'{esc(interval_text(p["recurring"]))}'
                 for p in self.store.all("price") if p["product"] == product_id]
        return "<br>".join(lines) or '<span class="muted">No prices</span>'

    def product(self, request: Request, id: str) -> Response:
        product = self.store.get("product", id)
        if product is None:
            return html(f"<h1>Not found</h1><p>No such product: {esc(id)}</p>", "Not found", 404)
        rows = [[f'<code class="price-id">{esc(p["id"])}</code>',
                 esc(format_amount(p["unit_amount"], p["currency"])),
                 esc(interval_text(p["recurring"])),
                 status_badge("active" if p["active"] else "archived")]
                for p in self.store.all("price") if p["product"] == id]
        body = (
            f"<h1>{esc(product['name'])}</h1><p><code id=product-id>{esc(id)}</code></p>"
            f"<p>{esc(product['description'] or '')}</p><h2>Pricing</h2>"
            "<p>Copy the price's API ID into the member group's Stripe price ID in the app's "
            "admin.</p>"
            + table(["API ID", "Amount", "Billing", "Status"], rows, "No prices.")
        )
        return html(body + add_price_form(id), product["name"])

    def add_price(self, request: Request, id: str) -> Response:
        product = self.store.get("product", id)
        if product is None:
            return not_found("product", id)
        try:
            with self.store.transaction():
                prices.create(self.ctx(request), {**price_params_from(request.form), "product": id})
        except StripeError as exc:
            body = (f'<h1>{esc(product["name"])}</h1><p>{link("products", id)}</p>'
                    + add_price_form(id, exc.message, request.form))
            return html(body, product["name"], 400)
        return redirect(f"/products/{id}", 303)  # type: ignore[return-value]

    # -- customers and subscriptions ---------------------------------------------------------

    def _items(self, sub: dict[str, Any]) -> str:
        parts = []
        for item in sub["items"]["data"]:
            price = item["price"]
            product = self.store.get("product", price["product"]) or {"name": price["product"]}
            parts.append(f"{esc(product['name'])} x {item['quantity']} "
                         f"({esc(format_amount(price['unit_amount'], price['currency']))} "
                         f"{esc(interval_text(price['recurring']))})")
        return "<br>".join(parts)

    def _sub_rows(self, subs: list[dict[str, Any]]) -> list[list[str]]:
        return [[link("subscriptions", s["id"]), link("customers", s["customer"]),
                 status_badge(s["status"]), self._items(s),
                 esc(when(subscriptions.current_period(s)[1]))] for s in subs]

    def _invoice_rows(self, invoices: list[dict[str, Any]]) -> list[list[str]]:
        return [[f"<code>{esc(i['id'])}</code>", esc(i["number"]), status_badge(i["status"]),
                 esc(format_amount(i["amount_due"], i["currency"])),
                 esc(i["billing_reason"]), esc(when(i["created"]))] for i in invoices]

    def _event_rows(self, events: list[dict[str, Any]]) -> list[list[str]]:
        return [[link("events", e["id"]), esc(e["type"]), esc(when(e["created"])),
                 str(e["pending_webhooks"])] for e in events]

    def customers(self, request: Request) -> Response:
        rows = [[link("customers", c["id"]), esc(c["email"]), esc(c["name"]),
                 esc(when(c["created"]))] for c in self.store.all("customer")]
        return html("<h1>Customers</h1>" + table(["Customer", "Email", "Name", "Created"], rows,
                                                 "No customers yet."), "Customers")

    def customer(self, request: Request, id: str) -> Response:
        customer = self.store.get("customer", id)
        if customer is None:
            return html(f"<h1>Not found</h1><p>No such customer: {esc(id)}</p>", "Not found", 404)
        subs = [s for s in self.store.all("subscription") if s["customer"] == id]
        invoices = [i for i in self.store.all("invoice") if i["customer"] == id]
        events = [e for e in self.store.all("event") if e["data"]["object"].get("id") == id
                  or e["data"]["object"].get("customer") == id][:50]
        body = (
            f"<h1>Customer</h1><p><code id=customer-id>{esc(id)}</code></p>"
            f"<section class=card><p>Email: <span id=customer-email>{esc(customer['email'])}"
            f"</span></p><p>Name: {esc(customer['name'])}</p>"
            f"<p>Created: {esc(when(customer['created']))}</p>"
            f"<p>Metadata: <code>{esc(json.dumps(customer['metadata']))}</code></p></section>"
            "<h2>Subscriptions</h2>"
            + table(["Subscription", "Customer", "Status", "Items", "Period end"],
                    self._sub_rows(subs), "No subscriptions.")
            + "<h2>Invoices</h2>"
            + table(["Invoice", "Number", "Status", "Amount", "Reason", "Created"],
                    self._invoice_rows(invoices), "No invoices.")
            + "<h2>Events</h2>"
            + table(["Event", "Type", "Created", "Pending webhooks"], self._event_rows(events))
        )
        return html(body, "Customer")

    def subscriptions(self, request: Request) -> Response:
        subs = self.store.all("subscription")
        return html("<h1>Subscriptions</h1>" + table(
            ["Subscription", "Customer", "Status", "Items", "Period end"], self._sub_rows(subs),
            "No subscriptions yet."), "Subscriptions")

    def subscription(self, request: Request, id: str) -> Response:
        sub = self.store.get("subscription", id)
        if sub is None:
            return html(f"<h1>Not found</h1><p>No such subscription: {esc(id)}</p>",
                        "Not found", 404)
        invoices = [i for i in self.store.all("invoice") if subscription_of(i) == id]
        events = [e for e in self.store.all("event") if e["data"]["object"].get("id") == id
                  or e["data"]["object"].get("subscription") == id
                  or subscription_of(e["data"]["object"]) == id][:50]
        start, end = subscriptions.current_period(sub)
        cancel = ""
        if sub["status"] != "canceled":
            cancel = (f'<form method="post" action="/subscriptions/{esc(id)}/cancel">'
                      '<button type="submit" class="secondary">Cancel subscription</button>'
                      "</form>")
        body = (
            f"<h1>Subscription</h1><p><code id=subscription-id>{esc(id)}</code> "
            f'<span id="subscription-status">{status_badge(sub["status"])}</span></p>'
            f"<section class=card><p>Customer: {link('customers', sub['customer'])}</p>"
            f"<p>Items:<br>{self._items(sub)}</p>"
            f"<p>Current period: {esc(when(start))} → {esc(when(end))}</p>"
            f"<p>Cancel at period end: {esc(sub['cancel_at_period_end'])}</p>"
            f"<p>Trial: {esc(when(sub['trial_start']))} → {esc(when(sub['trial_end']))}</p>"
            f"<p>Metadata: <code>{esc(json.dumps(sub['metadata']))}</code></p>{cancel}</section>"
            "<h2>Invoices</h2>"
            + table(["Invoice", "Number", "Status", "Amount", "Reason", "Created"],
                    self._invoice_rows(invoices), "No invoices.")
            + "<h2>Events</h2>"
            + table(["Event", "Type", "Created", "Pending webhooks"], self._event_rows(events))
        )
        return html(body, "Subscription")

    def cancel_subscription(self, request: Request, id: str) -> Response:
        sub = self.store.get("subscription", id)
        if sub is not None and sub["status"] != "canceled":
            billing.end_subscription(self.store, sub, self.store.now(),
                                     reason="cancellation_requested")
        return redirect(f"/subscriptions/{id}", 303)  # type: ignore[return-value]

    # -- events ------------------------------------------------------------------------------

    def events(self, request: Request) -> Response:
        deliveries: dict[str, list[dict[str, Any]]] = {}
        for d in self.store.deliveries():
            deliveries.setdefault(d["event"], []).append(d)
        rows = []
        for e in self.store.all("event")[:200]:
            attempts = deliveries.get(e["id"], [])
            summary = ", ".join(
                f'<span class="{"ok" if a["ok"] else "bad"}">#{a["attempt"]} '
                f'{esc(a["status"] or a["error"])}</span>' for a in attempts) or "—"
            rows.append([link("events", e["id"]), esc(e["type"]), esc(when(e["created"])),
                         str(e["pending_webhooks"]), summary])
        return html("<h1>Events</h1>" + table(
            ["Event", "Type", "Created", "Pending webhooks", "Deliveries"], rows,
            "No events yet."), "Events")

    def event(self, request: Request, id: str) -> Response:
        event = self.store.get("event", id)
        if event is None:
            return html(f"<h1>Not found</h1><p>No such event: {esc(id)}</p>", "Not found", 404)
        attempts = [d for d in self.store.deliveries() if d["event"] == id]
        rows = [[link("webhooks", a["endpoint"]), str(a["attempt"]), str(a["copy"]),
                 esc(a["status"] or a["error"]), esc(when(int(a["time"])))] for a in attempts]
        body = (
            f"<h1>{esc(event['type'])}</h1><p><code>{esc(id)}</code></p><h2>Deliveries</h2>"
            + table(["Endpoint", "Attempt", "Copy", "Result", "Time"], rows, "No deliveries.")
            + f"<h2>Event data</h2><pre class=mono>{esc(json.dumps(event, indent=2))}</pre>"
        )
        return html(body, event["type"])


def endpoint_controls(endpoint: dict[str, Any]) -> str:
    """Disable (Stripe then sends it nothing) or enable again; delete for good."""
    id, enabled = esc(endpoint["id"]), endpoint["status"] == "enabled"
    return (
        f'<form method="post" action="/webhooks/{id}/status">'
        f'<input type="hidden" name="disabled" value="{"true" if enabled else "false"}">'
        f'<button type="submit" class="secondary">'
        f'{"Disable endpoint" if enabled else "Enable endpoint"}</button></form>'
        f'<form method="post" action="/webhooks/{id}/delete">'
        '<button type="submit" class="secondary">Delete endpoint</button></form>'
        '<p class="muted">A disabled endpoint is sent no events until it is enabled again. '
        "Deleting an endpoint is final: its signing secret stops working.</p>"
    )


def add_price_form(product_id: str, error: str = "", form: Any = None) -> str:
    """Re-shown with the person's values and Stripe's error when a price is refused."""
    form = form or {}
    return (
        f'<form class="card" method="post" action="/products/{esc(product_id)}/prices">'
        "<h2>Add a price</h2>"
        + (f'<p class="error" role="alert">{esc(error)}</p>' if error else "")
        + field("amount", "Price amount", kind="number", required=True, extra='min="0"',
                value=form.get("amount", ""))
        + select("currency", "Currency", [("jpy", "JPY"), ("usd", "USD"), ("eur", "EUR")],
                 form.get("currency", ""))
        + select("interval", "Billing period", PERIODS, form.get("interval", ""))
        + '<button type="submit">Add price</button></form>'
    )
