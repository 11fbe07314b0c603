"""PostgreSQL keeps the plans of what every request sends (DATABASE_PREPARED_STATEMENTS)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from tests.fixtures.accounts import MEMBER_EMAIL, MEMBER_PASSWORD, api_login, endpoint_url
from tests.platform.test_settings import PRODUCTION_ENV, manage

pytestmark = pytest.mark.django_db

PREPARED_LIKE = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s"


@pytest.fixture
def on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")


def test_a_signed_in_request_is_planned_once_per_connection(on_postgresql, client, member,
                                                            cookie_api):
    api_login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD)
    profile = endpoint_url(cookie_api, "profile")
    for _ in range(settings.PREPARE_THRESHOLD + 1):
        response = client.get(profile)
        assert response.status_code == 200
        assert response.json()["email"] == MEMBER_EMAIL  # same answers, prepared or not
    with connection.cursor() as cursor:
        cursor.execute(PREPARED_LIKE, ["%django_session%"])
        assert cursor.fetchone()[0] == 1  # the session read: prepared, kept


PROBE = """
from django.db import connection
with connection.cursor() as cursor:
    for _ in range(10):
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname = %s", ["pg_type"])
    cursor.execute("SELECT count(*) FROM pg_prepared_statements")
    print("prepared", cursor.fetchone()[0])
"""


@pytest.mark.parametrize(("setting", "prepared"), [("true", 1), ("false", 0)])
def test_prepared_statements_can_be_turned_off_for_a_pooler(on_postgresql, setting, prepared):
    """Behind PgBouncer in transaction mode (before 1.21) they must be: the setting works."""
    database = settings.DATABASES["default"]
    url = (f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
           f"{database['PORT'] or 5432}/{database['NAME']}")
    result = manage("shell", "-c", PROBE, **PRODUCTION_ENV, DATABASE_URL=url,
                    DATABASE_PREPARED_STATEMENTS=setting)
    assert result.returncode == 0, result.stderr
    assert f"prepared {prepared}" in result.stdout
