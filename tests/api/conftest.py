"""Fixtures for the /rcms-api/ tests."""

import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Sign-in is exercised hundreds of times; the real hasher would take minutes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    # Rate-limit counters live in the database cache; start every test at zero.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def test_operations(monkeypatch):
    """Adds test-only operations (see tests/api/handlers.py) to the catalogue."""
    from kuroco_billing.rcms_api import catalogue

    operations = [
        catalogue.Operation("Tests", "Faults", "explode", "POST",
                            "tests.api.handlers.explode", "Raises an unexpected error",
                            needs_member=False),
        catalogue.Operation("Tests", "Faults", "unreachable_database", "POST",
                            "tests.api.handlers.unreachable_database", "Database is down",
                            needs_member=False),
        catalogue.Operation("Tests", "Faults", "missing_handler", "POST",
                            "tests.api.handlers.no_such_handler", "Handler path is wrong",
                            needs_member=False),
        catalogue.Operation("Tests", "Echo", "echo_get", "GET",
                            "tests.api.handlers.echo", "Echoes the query", needs_member=False),
        catalogue.Operation("Tests", "Echo", "echo_post", "POST",
                            "tests.api.handlers.echo", "Echoes the body", needs_member=False),
    ]
    for operation in operations:
        monkeypatch.setitem(catalogue.BY_NAME, operation.name, operation)
    return {operation.name: operation for operation in operations}

