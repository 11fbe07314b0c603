"""A refresh meeting the deletion of its member or its API: the two never wait for each
other (a deadlock), the deletion commits, no token outlives it, and the refresh answers
200 (it came first: what it issued goes with the member) or 401, never 500."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from kuroco_billing.rcms_api.models import Api, ApiToken
from members.models import Member
from tests.fixtures.accounts import MEMBER_PASSWORD, endpoint_url, issue_tokens

from .test_token_races import _post

# Row locks held from a second connection: PostgreSQL's (SQLite locks the whole file).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_url")]


def _other_connection():
    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                           user=db["USER"], password=db["PASSWORD"] or None,
                           dbname=connection.settings_dict["NAME"])


def _lock_waiters() -> int:
    with _other_connection() as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                         "AND wait_event_type = 'Lock'",
                         [connection.settings_dict["NAME"]]).fetchone()[0]


def _wait_for_waiters(n, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _lock_waiters() >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw {n} waiting on a lock")


def test_a_member_deleted_while_their_refresh_runs_is_deleted_with_every_token(
        live_server, token_api, member):
    """An admin deletes a member (Django deletes the tokens, then the member row) while
    the member's refresh holds the member's row lock and waits for the API (an admin
    saving the API at that moment). The deletion locks the member first, so it waits
    for the refresh instead of deadlocking with it."""
    refresh = issue_tokens(Client(), token_api, member.email, MEMBER_PASSWORD)[
        "refresh_token"]["value"]
    token_url = live_server.url + endpoint_url(token_api, "token")
    admin_saving_api = _other_connection()
    admin_saving_api.execute(f'UPDATE "{Api._meta.db_table}" SET title = title '
                             "WHERE id = %s", [token_api.pk])
    results, delete_errors = [], []

    def do_refresh():
        results.append(_post(token_url, {"refresh_token": refresh}))

    def do_delete():
        try:
            Member.objects.get(pk=member.pk).delete()
        except Exception as exc:
            delete_errors.append(repr(exc))
        finally:
            connection.close()

    refresher = threading.Thread(target=do_refresh)
    refresher.start()
    _wait_for_waiters(1)  # the refresh holds the member and waits for the API
    deleter = threading.Thread(target=do_delete)
    deleter.start()
    _wait_for_waiters(2)  # the deletion waits for the member row
    admin_saving_api.commit()
    admin_saving_api.close()
    refresher.join(60)
    deleter.join(60)
    assert delete_errors == []
    assert not Member.objects.filter(pk=member.pk).exists()
    assert not ApiToken.objects.exists()
    assert [status for status, _ in results] == [200], results  # it came first


def test_api_deleted_while_a_refresh_waits_answers_401(live_server, token_api, member):
    """The refresh found its token, then waits for the member's row (a webhook batch
    holds it, payments/services/locks.py); meanwhile the API is deleted with its tokens.
    Expected: 401 (the token no longer exists), not a 500 from refresh_from_db."""
    refresh = issue_tokens(Client(), token_api, member.email, MEMBER_PASSWORD)[
        "refresh_token"]["value"]
    token_url = live_server.url + endpoint_url(token_api, "token")
    webhook = _other_connection()
    webhook.execute(f'SELECT 1 FROM "{Member._meta.db_table}" WHERE id = %s FOR UPDATE',
                    [member.pk])
    results = []
    refresher = threading.Thread(
        target=lambda: results.append(_post(token_url, {"refresh_token": refresh})))
    refresher.start()
    _wait_for_waiters(1)
    Api.objects.get(pk=token_api.pk).delete()
    assert not ApiToken.objects.exists()
    webhook.commit()
    webhook.close()
    refresher.join(60)
    assert [status for status, _ in results] == [401], results
