"""The errors an API operation can answer with, in Kuroco's envelope.

Handlers raise :class:`ApiError` (or :class:`ApiErrors` for several field
errors at once); the dispatcher turns them into::

    {"errors": [{"code": "...", "message": "...", "field": "..."}],
     "x-rcms-request-id": "<uuid>"}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "payload_too_large": 413,
    "unprocessable_entity": 422,
    "too_many_requests": 429,
    "internal_server_error": 500,
    "bad_gateway": 502,
    "service_unavailable": 503,
}
CODE_BY_STATUS: dict[int, str] = {status: code for code, status in STATUS_BY_CODE.items()}


@dataclass(frozen=True)
class ErrorItem:
    """One entry of the envelope's ``errors`` list."""

    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, str]:
        item = {"code": self.code, "message": self.message}
        if self.field is not None:
            item["field"] = self.field
        return item


class ApiError(Exception):
    """A failure the API client should see: one error, one HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        headers: dict | None = None,
    ) -> None:
        if status is None:
            try:
                status = STATUS_BY_CODE[code]
            except KeyError:
                raise ValueError(f"Unknown API error code {code!r}; pass status=.") from None
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def items(self) -> list[ErrorItem]:
        return [ErrorItem(self.code, self.message, self.field)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, field={self.field!r})"


class ApiErrors(ApiError):
    """Several errors answered together, e.g. one per invalid field.

    All share one status (the first error's unless given).
    """

    def __init__(
        self,
        errors: Iterable[ApiError | ErrorItem],
        *,
        status: int | None = None,
        headers: dict | None = None,
    ) -> None:
        entries = [
            e if isinstance(e, ErrorItem) else ErrorItem(e.code, e.message, e.field)
            for e in errors
        ]
        if not entries:
            raise ValueError("ApiErrors needs at least one error.")
        first = entries[0]
        super().__init__(first.code, first.message, field=first.field, status=status,
                         headers=headers)
        self._entries = entries

    @property
    def items(self) -> list[ErrorItem]:
        return list(self._entries)

    @classmethod
    def for_fields(cls, messages: dict[str, str], code: str = "bad_request") -> ApiErrors:
        """One ``code`` error per field, e.g. ``{"email": "This field is required."}``."""
        return cls([ErrorItem(code, message, field) for field, message in messages.items()])
