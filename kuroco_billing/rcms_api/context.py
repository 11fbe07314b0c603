"""What an operation handler is given: ``def handler(ctx: OperationContext) -> dict``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from members.models import Member

    from .models import Api, Endpoint


@dataclass
class OperationContext:
    request: HttpRequest
    api: Api
    endpoint: Endpoint
    # The signed-in member (session on cookie APIs, access token on
    # dynamic-token APIs), or None when nobody is signed in.
    member: Member | None
    # The validated JSON body for POST, the query parameters for GET.
    data: dict
