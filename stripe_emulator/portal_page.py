"""The hosted Billing Portal page: GET shows the member's billing, POST runs one action
through the API's own handlers (same checks, same events). Forms carry a CSRF token."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from .cards import DECLINES
from .checkout_page import parse_card
from .context import Ctx
from .errors import StripeError, card_declined
from .resources import customers, subscriptions
from .resources.payment_methods import attach_to, store_card
from .state import Store
from .templates import esc, layout
from .templates import portal as page

LIVE = ("active", "trialing", "past_due", "unpaid")
NOTICES = {
    "payment_method": "Your payment method was updated.",
    "switch": "Your plan was changed.",
    "cancel": "Your plan was canceled.",
    "renew": "Your plan was renewed.",
}


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _not_found(session_id: str) -> Response:
    return _html(layout("Not found", "<h1>Portal session not found</h1><p>No such portal "
                        f"session: <code>{esc(session_id)}</code></p>", nav=False), 404)


def same_origin(request: Request) -> bool:
    """A browser POST names its origin; it must be this server (no header: not a browser)."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def _call(store: Store, request: Request, handler: Any, params: dict[str, Any],
          **args: Any) -> dict[str, Any]:
    ctx = Ctx(store, request.host_url.rstrip("/"))
    with store.transaction(savepoint=True):
        return handler(ctx, params, **args)


class Portal:
    def __init__(self, store: Store, request: Request, session: dict[str, Any]) -> None:
        self.store, self.request, self.session = store, request, session
        self.customer_id = session["customer"]
        config = store.get("billing_portal.configuration", session["configuration"]) or {}
        self.config = config
        self.features = config["features"]

    def subscriptions(self) -> list[dict[str, Any]]:
        return [s for s in self.store.all("subscription")
                if s["customer"] == self.customer_id and s["status"] in LIVE]

    def offered(self) -> list[str]:
        update = self.features["subscription_update"]
        return [p for product in update["products"] or [] for p in product["prices"]]

    # -- GET ---------------------------------------------------------------------------------

    def _view(self, sub: dict[str, Any]) -> dict[str, Any]:
        price = sub["items"]["data"][0]["price"]
        product = self.store.get("product", price["product"]) or {"name": "Product"}
        choices = []
        for price_id in self.offered():
            other = self.store.get("price", price_id)
            if other and other["active"] and price_id != price["id"]:
                name = (self.store.get("product", other["product"]) or {}).get("name", "")
                amount = page.format_amount(other["unit_amount"], other["currency"])
                choices.append({"id": price_id, "label": f"{name} — {amount} "
                                f"{page.interval_text(other['recurring'])}"})
        next_invoice = None
        if not sub["cancel_at_period_end"] and sub["status"] != "unpaid":
            pending = self.store.private.get("pending_prorations", {}).get(sub["id"], [])
            amount = sum(i["price"]["unit_amount"] * i["quantity"] for i in sub["items"]["data"])
            next_invoice = {"amount": amount + sum(line["amount"] for line in pending),
                            "currency": price["currency"],
                            "date": subscriptions.current_period(sub)[1]}
        return {"subscription": sub, "price": price, "product_name": product["name"],
                "choices": choices, "next_invoice": next_invoice}

    def render(self, status: int = 200, errors: list[str] = (), form: dict[str, str] | None = None,
               notice: str | None = None) -> Response:
        customer = self.store.get("customer", self.customer_id) or {"id": self.customer_id}
        pm_id = (customer.get("invoice_settings") or {}).get("default_payment_method")
        subs = self.subscriptions()
        if not pm_id and subs:
            pm_id = subs[0]["default_payment_method"]
        pm = self.store.get("payment_method", pm_id) if pm_id else None
        invoices = [i for i in self.store.all("invoice") if i["customer"] == self.customer_id]
        html = page.render(
            session=self.session, csrf=self.store.private["portal"][self.session["id"]]["csrf"],
            customer=customer, plans=[self._view(s) for s in subs],
            card=pm["card"] if pm else None, invoices=invoices, features=self.features,
            headline=self.config["business_profile"]["headline"], notice=notice,
            errors=list(errors), form=form or {})
        return _html(html, status)

    # -- POST --------------------------------------------------------------------------------

    def _subscription(self, form: dict[str, str]) -> dict[str, Any]:
        sub = self.store.get("subscription", form.get("subscription", ""))
        if sub is None or sub["customer"] != self.customer_id or sub["status"] not in LIVE:
            raise StripeError(404, "That subscription is not yours or has ended.")
        return sub

    def act(self, action: str, form: dict[str, str]) -> None:
        """Run one form's action, if the configuration offers it."""
        actions = {"payment_method": ("payment_method_update", self.update_card),
                   "switch": ("subscription_update", self.switch),
                   "cancel": ("subscription_cancel", self.cancel),
                   "renew": ("subscription_cancel", self.renew)}
        feature, run = actions.get(action, ("", None))
        if run is None or (action != "renew" and not self.features[feature]["enabled"]):
            raise StripeError(400, "This action is not available here.")
        run(form)

    def switch(self, form: dict[str, str]) -> None:
        sub = self._subscription(form)
        price_id = form.get("price", "")
        if price_id not in self.offered():
            raise StripeError(400, "That plan is not offered here.")
        # A failed payment must leave the plan as it was and say so on the page.
        _call(self.store, self.request, subscriptions.update, {
            "items": [{"id": sub["items"]["data"][0]["id"], "price": price_id}],
            "proration_behavior": self.features["subscription_update"]["proration_behavior"],
            "payment_behavior": "error_if_incomplete"}, id=sub["id"])

    def cancel(self, form: dict[str, str]) -> None:
        sub = self._subscription(form)
        if self.features["subscription_cancel"]["mode"] == "immediately":
            _call(self.store, self.request, subscriptions.cancel, {}, id=sub["id"])
        else:
            _call(self.store, self.request, subscriptions.update,
                  {"cancel_at_period_end": "true"}, id=sub["id"])

    def renew(self, form: dict[str, str]) -> None:
        sub = self._subscription(form)
        _call(self.store, self.request, subscriptions.update,
              {"cancel_at_period_end": "false"}, id=sub["id"])

    def update_card(self, form: dict[str, str]) -> None:
        card, _email, errors = parse_card(form, self.store.now(), need_email=False)
        if errors or card is None:
            raise StripeError(400, " ".join(errors))
        if card.behaviour in DECLINES:
            raise card_declined(card.behaviour)
        with self.store.transaction():
            pm = store_card(self.store, card, None)
            attach_to(self.store, pm, self.customer_id, {"id": None, "idempotency_key": None})
            _call(self.store, self.request, customers.update,
                  {"invoice_settings": {"default_payment_method": pm["id"]}},
                  id=self.customer_id)
            # The portal makes the new card the one every subscription is charged with.
            for sub in self.subscriptions():
                if sub["default_payment_method"] != pm["id"]:
                    _call(self.store, self.request, subscriptions.update,
                          {"default_payment_method": pm["id"]}, id=sub["id"])


def handle(store: Store, request: Request, session_id: str) -> Response:
    # The session URL is a bearer credential: the token and the Origin check keep another
    # site from acting for the member through a browser that has the page open.
    session = store.get("billing_portal.session", session_id)
    secret = store.private["portal"].get(session_id)
    if session is None or secret is None:
        return _not_found(session_id)
    portal = Portal(store, request, session)
    if request.method == "GET":
        return portal.render(notice=NOTICES.get(request.args.get("done", "")))
    form = {k: v for k, v in request.form.items()}
    token = form.get("csrf_token", "")
    if not same_origin(request) or not hmac.compare_digest(
            token.encode("utf-8", "replace"), secret["csrf"].encode()):
        return _html(layout("Forbidden", "<h1>Forbidden</h1><p>This form is out of date or "
                            "came from another site. Reload the page and try again.</p>",
                            nav=False), 403)
    action = form.get("action", "")
    try:
        portal.act(action, form)
    except StripeError as exc:
        return portal.render(exc.status if exc.status < 500 else 400, [exc.message], form)
    return Response(status=303, headers={"Location": f"/p/session/{session_id}?done={action}"})
