"""The WSGI application: routing, API-key auth, idempotency, request ids, faults.

Three surfaces share one server: the Stripe API under ``/v1``, emulator controls under
``/_emulator``, and HTML (hosted Checkout at ``/c/pay/<id>``, the dashboard at ``/``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import socket
import threading
from functools import partial
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import API_VERSION, billing, checkout_page, dashboard, invoice_page, portal_page
from .context import Ctx
from .csrf import cross_site_refusal
from .errors import StripeError, invalid, unrecognized_url
from .expand import expand
from .faults import BEFORE_ONLY, MODES, STAGES, Fault, Faults
from .limits import MAX_BODY_BYTES, body_too_large
from .params import decode, get_list
from .resources import ALL_ROUTES
from .state import Store, random_token
from .templates import esc
from .webhooks import Dispatcher

log = logging.getLogger("stripe_emulator")
IDEMPOTENCY_TTL = 24 * 3600
MAX_IDEMPOTENCY_KEY_LENGTH = 255  # https://docs.stripe.com/api/idempotent_requests
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
PUBLISHABLE_KEY_USED = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. "
    "You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)


def redact(key: str) -> str:
    if len(key) <= 12:
        return key[:3] + "*" * max(0, len(key) - 3)
    prefix = key[:8] if key[2:3] == "_" else key[:3]
    return prefix + "*" * (len(key) - len(prefix) - 4) + key[-4:]


def injected_500() -> StripeError:
    return StripeError(500, "An unknown error occurred (injected fault).", type="api_error")


def saved_under_key(status: int) -> bool:
    """Which answers Stripe saves under an idempotency key: those of a request whose
    execution began (success, card errors, 5xx), not validation errors."""
    return status < 400 or status == 402 or status >= 500


def _number(data: dict[str, Any], name: str, default: float, *, maximum: float) -> float:
    """A finite number from 0 to ``maximum`` (NaN or inf would hang or break a wait)."""
    raw = data.get(name, default)
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= maximum:
        raise invalid(name, f"`{name}` must be a number from 0 to {maximum:g}.")
    return value


class BoundedRequest(Request):
    """A request whose body is refused (413) past MAX_BODY_BYTES, before it is parsed."""

    max_content_length = MAX_BODY_BYTES


class EmulatorApp:
    def __init__(self, store: Store, dispatcher: Dispatcher, faults: Faults, *,
                 secret_key: str, publishable_key: str,
                 allow_remote_webhooks: bool = False) -> None:
        self.store = store
        self.allow_remote_webhooks = allow_remote_webhooks
        self.dispatcher = dispatcher
        self.faults = faults
        self.secret_key = secret_key
        self.publishable_key = publishable_key
        self.stopping = threading.Event()
        rules = [Rule(rule, methods=[method], endpoint=("api", handler))
                 for method, rule, handler in ALL_ROUTES]
        rules += [
            Rule("/_emulator/advance", methods=["POST"], endpoint=("emu", self.emu_advance)),
            Rule("/_emulator/clock", methods=["GET"], endpoint=("emu", self.emu_clock)),
            Rule("/_emulator/faults", methods=["GET", "POST", "DELETE"],
                 endpoint=("emu", self.emu_faults)),
            Rule("/_emulator/webhook_endpoints/<id>/chaos", methods=["POST"],
                 endpoint=("emu", self.emu_chaos)),
            Rule("/_emulator/drain", methods=["POST"], endpoint=("emu", self.emu_drain)),
            Rule("/_emulator/deliveries", methods=["GET"], endpoint=("emu", self.emu_deliveries)),
            Rule("/c/pay/<session_id>", methods=["GET", "POST"], endpoint=("checkout", None)),
            Rule("/p/session/<session_id>", methods=["GET", "POST"],
                 endpoint=("html", partial(portal_page.handle, store))),
            Rule("/i/<token>", methods=["GET"],
                 endpoint=("html", partial(invoice_page.page, store))),
            Rule("/i/<token>/pdf", methods=["GET"],
                 endpoint=("html", partial(invoice_page.pdf, store))),
        ]
        rules += [Rule(rule, methods=methods, endpoint=("html", view))
                  for rule, methods, view in dashboard.routes(self)]
        self.url_map = Map(rules, strict_slashes=False)

    # -- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = BoundedRequest(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        request_id = "req_" + random_token(14)
        self.store.base_url = request.host_url.rstrip("/")
        response = self._dispatch(request, request_id)
        response.headers["Request-Id"] = request_id
        return response

    def _dispatch(self, request: Request, request_id: str) -> Response:
        if not request.path.startswith("/_emulator"):
            fault = self.faults.take(request.method, request.path, "before")
            if fault:
                return self._fault(request, fault, request_id)
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            (kind, target), args = adapter.match()
        except (NotFound, MethodNotAllowed):
            return self.error(unrecognized_url(request.method, request.path), request_id)
        except HTTPException as exc:  # e.g. a redirect for a trailing slash
            return exc.get_response()  # type: ignore[return-value]
        try:
            if kind != "api" and request.method not in ("GET", "HEAD"):
                refusal = cross_site_refusal(request)
                if refusal:
                    return self._cross_site(kind, refusal, request_id)
            if kind == "api":
                return self._api(request, request_id, target, args)
            if kind == "emu":
                return target(request, **args)
            if kind == "checkout":
                return checkout_page.handle(self.store, request, args["session_id"])
            return target(request, **args)
        except StripeError as exc:
            return self.error(exc, request_id)
        except RequestEntityTooLarge:
            return self.error(body_too_large(), request_id)
        except HTTPException as exc:  # e.g. a body werkzeug cannot parse
            return self.error(StripeError(exc.code or 400, exc.description or exc.name),
                              request_id)
        except Exception:  # a bug must still answer like Stripe, never hang the client
            log.exception("unhandled error in %s %s", request.method, request.path)
            return self.error(StripeError(500, "An unknown error occurred", type="api_error"),
                              request_id)

    # -- responses ---------------------------------------------------------------------------

    def _cross_site(self, kind: str, reason: str, request_id: str) -> Response:
        message = f"Refused a cross-site request: {reason}."
        log.warning("%s", message)
        if kind == "emu":
            return self.error(StripeError(403, message), request_id)
        return dashboard.html(f'<h1>Forbidden</h1><p class="error" role="alert">{esc(message)}'
                              "</p>", "Forbidden", 403)

    def json(self, body: Any, status: int = 200, request_id: str | None = None) -> Response:
        response = Response(json.dumps(body, indent=2), status=status,
                            content_type="application/json")
        response.headers["Stripe-Version"] = API_VERSION
        return response

    def error(self, exc: StripeError, request_id: str | None) -> Response:
        response = self.json(exc.body(request_id), exc.status)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="Stripe"'
        return response

    # -- the API -----------------------------------------------------------------------------

    def _api_key(self, request: Request) -> str:
        header = request.headers.get("Authorization", "").strip()
        key = ""
        if header.lower().startswith("bearer "):
            key = header[7:].strip()
        elif header.lower().startswith("basic "):
            try:
                key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(401, NO_KEY)
        if key == self.publishable_key:
            raise StripeError(401, PUBLISHABLE_KEY_USED)
        if key != self.secret_key:
            raise StripeError(401, f"Invalid API Key provided: {redact(key)}")
        return key

    def _api(self, request: Request, request_id: str, handler: Any,
             args: dict[str, Any]) -> Response:
        api_key = self._api_key(request)
        params = decode(list(request.args.items(multi=True))
                        + list(request.form.items(multi=True)))
        idem_key = request.headers.get("Idempotency-Key") if request.method in (
            "POST", "DELETE") else None
        if idem_key is not None and len(idem_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise StripeError(400, "Invalid idempotency key: it must be at most "
                              f"{MAX_IDEMPOTENCY_KEY_LENGTH} characters long.",
                              type="idempotency_error")
        ctx = Ctx(self.store, request.host_url.rstrip("/"), request_id, idem_key,
                  allow_remote_webhooks=self.allow_remote_webhooks)
        cache_key = f"{api_key}|{idem_key}"
        fault = None
        if cache_key not in self.store.private["idempotency"]:  # a replay executes nothing
            fault = self.faults.take(request.method, request.path, "during")
        if fault and fault.mode == "hang":
            self.stopping.wait(fault.seconds)  # outside the lock: other calls go on
        if not idem_key:
            status, body = self._execute(ctx, handler, params, args, fault)
            return self._answer(request, fault, status, body)
        signature = {"method": request.method, "path": request.path, "params": params}
        with self.store.transaction():
            cache = self.store.private["idempotency"]
            now = self.store.now()
            for key in [k for k, v in cache.items() if v["created"] + IDEMPOTENCY_TTL < now]:
                del cache[key]
            entry = cache.get(cache_key)
            if entry is None:
                status, body = self._execute(ctx, handler, params, args, fault)
                if saved_under_key(status):
                    cache[cache_key] = {**signature, "status": status, "body": body,
                                        "created": now, "request_id": request_id}
                    self.store.touch()
                return self._answer(request, fault, status, body)
        if (entry["method"], entry["path"]) != (request.method, request.path):
            raise StripeError(
                400, "Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ('{entry['method']} {entry['path']}' vs "
                f"'{request.method} {request.path}'). Try using a key other than "
                f"'{idem_key}' if you meant to execute a different request.",
                type="idempotency_error")
        if entry["params"] != params:
            raise StripeError(
                400, "Keys for idempotent requests can only be used with the same parameters "
                f"they were first used with. Try using a key other than '{idem_key}' if you "
                "meant to execute a different request.", type="idempotency_error")
        response = self._answer(request, None, entry["status"], entry["body"])
        response.headers["Idempotent-Replayed"] = "true"
        response.headers["Original-Request"] = entry["request_id"]
        return response

    def _execute(self, ctx: Ctx, handler: Any, params: dict[str, Any], args: dict[str, Any],
                 fault: Fault | None) -> tuple[int, Any]:
        """Run the endpoint, or fail as it runs when a "during" 500/hang fault says so."""
        if fault is not None and fault.mode in ("500", "hang"):
            return 500, injected_500().body(ctx.request_id)
        return self._run(ctx, handler, params, args)

    def _answer(self, request: Request, fault: Fault | None, status: int,
                body: Any) -> Response:
        if fault is not None and fault.mode == "drop":  # the work is done, the answer lost
            return self._drop(request)
        response = self.json(body, status)
        if status >= 500:
            # Stripe's hint to its SDKs: retrying with this key would only replay the 500.
            response.headers["Stripe-Should-Retry"] = "false"
        return response

    def _run(self, ctx: Ctx, handler: Any, params: dict[str, Any],
             args: dict[str, Any]) -> tuple[int, Any]:
        # One lock around the whole call: a request sees and makes only whole objects. The
        # savepoint undoes a handler's partial writes when it fails, also when the call is
        # nested in the idempotency transaction.
        try:
            with self.store.transaction(savepoint=True):
                body = handler(ctx, params, **args)
                paths = [str(p) for p in get_list(params, "expand")]
                if paths:
                    body = expand(self.store, body, paths)
            return 200, body
        except StripeError as exc:
            return exc.status, exc.body(ctx.request_id)
        except Exception:  # a bug, after execution began: a 500 saved like Stripe's
            log.exception("unhandled error in %s", getattr(handler, "__name__", handler))
            return 500, StripeError(500, "An unknown error occurred",
                                    type="api_error").body(ctx.request_id)

    # -- faults ------------------------------------------------------------------------------

    def _fault(self, request: Request, fault: Fault, request_id: str) -> Response:
        if fault.mode == "429":
            return self.error(StripeError(
                429, "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.", code="rate_limit"), request_id)
        if fault.mode == "hang":
            self.stopping.wait(fault.seconds)
        elif fault.mode == "drop":
            return self._drop(request)
        return self.error(injected_500(), request_id)

    @staticmethod
    def _drop(request: Request) -> Response:
        sock = request.environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return Response(b"", status=500)

    # -- emulator-only endpoints ---------------------------------------------------------------

    @staticmethod
    def _input(request: Request) -> dict[str, Any]:
        if request.is_json:
            data = request.get_json(silent=True)
            return data if isinstance(data, dict) else {}
        return {**request.args.to_dict(), **request.form.to_dict()}

    def emu_advance(self, request: Request) -> Response:
        seconds = billing.advance_seconds(self._input(request).get("seconds", 0))
        return self.json({"now": billing.advance(self.store, seconds)})

    def emu_clock(self, request: Request) -> Response:
        return self.json({"now": self.store.now(),
                          "offset": self.store.data["clock_offset"]})

    def emu_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            data = self._input(request)
            mode = str(data.get("mode", ""))
            if mode not in MODES:
                raise invalid("mode", f"mode must be one of {', '.join(MODES)}")
            if not str(data.get("path", "")).startswith("/"):
                raise invalid("path", "path must be a URL path prefix such as /v1/customers")
            count = int(_number(data, "count", 1, maximum=1_000_000))
            seconds = _number(data, "seconds", 30, maximum=3600)
            method = str(data.get("method") or "").upper() or None
            stage = str(data.get("stage") or "before")
            if stage not in STAGES:
                raise invalid("stage", f"stage must be one of {', '.join(STAGES)}")
            if stage == "during" and mode in BEFORE_ONLY:
                raise invalid("mode", f"mode {mode} can only strike before execution")
            self.faults.add(Fault(path=str(data["path"]), mode=mode, count=count,
                                  method=method, seconds=seconds, stage=stage))
        return self.json({"faults": self.faults.list()})

    def emu_chaos(self, request: Request, id: str) -> Response:
        if self.store.get("webhook_endpoint", id) is None:
            raise StripeError(404, f"No such webhook endpoint: '{id}'", code="resource_missing",
                              param="id")
        enabled = str(self._input(request).get("enabled", "true")).lower() in ("true", "1", "on")
        self.set_chaos(id, enabled)
        return self.json({"id": id, "chaos": enabled})

    def set_chaos(self, endpoint_id: str, enabled: bool) -> None:
        with self.store.transaction():
            self.store.private["chaos"][endpoint_id] = enabled
            self.store.touch()

    def emu_drain(self, request: Request) -> Response:
        timeout = _number(self._input(request), "timeout", 30, maximum=3600)
        left = self.dispatcher.drain(timeout)
        return self.json({"pending": left}, 200 if left == 0 else 504)

    def emu_deliveries(self, request: Request) -> Response:
        event, endpoint = request.args.get("event"), request.args.get("endpoint")
        data = [d for d in self.store.deliveries()
                if (not event or d["event"] == event)
                and (not endpoint or d["endpoint"] == endpoint)]
        return self.json({"object": "list", "data": data})
