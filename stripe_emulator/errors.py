"""Stripe-shaped API errors: one exception type carrying status, type, code and param."""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """Raised by handlers; the app turns it into Stripe's ``{"error": {...}}`` body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
        }
        if self.code:
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if request_id:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def no_such(label: str, object_id: str, param: str | None = "id", status: int = 404) -> StripeError:
    # Stripe answers 404 for a missing object in the URL, 400 for one named in a parameter.
    return StripeError(
        status, f"No such {label}: '{object_id}'", code="resource_missing", param=param
    )


def missing_param(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid_integer(param: str, value: Any) -> StripeError:
    return StripeError(
        400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
    )


def invalid_boolean(param: str, value: Any) -> StripeError:
    return StripeError(400, f"Invalid boolean: {value}", param=param)


def invalid_empty(param: str) -> StripeError:
    return StripeError(
        400,
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' "
        "from your request or supply a non-empty value.",
        code="parameter_invalid_empty",
        param=param,
    )


def invalid(param: str | None, message: str, code: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param)


def unknown_param(param: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def card_declined(decline_code: str = "generic_decline") -> StripeError:
    message = {
        "insufficient_funds": "Your card has insufficient funds.",
    }.get(decline_code, "Your card was declined.")
    return StripeError(
        402, message, type="card_error", code="card_declined", decline_code=decline_code
    )
