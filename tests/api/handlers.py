"""Operation handlers that exist only for tests, for faults no real handler should have.

They are bound to endpoints by adding operations to the catalogue in a
fixture (``test_operations``); the dispatcher runs them like any other.
"""

from __future__ import annotations

import copy

from django.db import connections
from django.db.utils import load_backend

from kuroco_billing.rcms_api.context import OperationContext

LEAKY_SECRET = "sk_test_51SecretThatMustNotLeak"


def explode(ctx: OperationContext) -> dict:
    raise RuntimeError(f"handler bug while using {LEAKY_SECRET}")


def unreachable_database(ctx: OperationContext) -> dict:
    """Really connect to a database that is not there (same engine as the tests use)."""
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    if settings_dict["ENGINE"].endswith("sqlite3"):
        settings_dict["NAME"] = "/nonexistent-directory/kuroco.sqlite3"
    else:
        settings_dict.update(HOST="127.0.0.1", PORT="1")  # nothing listens on port 1
        settings_dict.setdefault("OPTIONS", {})["connect_timeout"] = 2
    backend = load_backend(settings_dict["ENGINE"])
    wrapper = backend.DatabaseWrapper(settings_dict, alias="unreachable")
    try:
        wrapper.ensure_connection()
    finally:
        wrapper.close()
    raise AssertionError("the unreachable database answered")


def echo(ctx: OperationContext) -> dict:
    return {"data": ctx.data, "member_id": getattr(ctx.member, "pk", None)}
