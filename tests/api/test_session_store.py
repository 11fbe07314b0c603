"""The session store (``kuroco_billing.sessions``): Django's database sessions, read by SQL.

Same table, format and expiry as Django's own store, so sessions made by either
are read by the other, and an expired or unknown one is a signed-out request.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from kuroco_billing.sessions import SessionStore
from tests.fixtures.accounts import MEMBER_PASSWORD, auth_headers, endpoint_url

pytestmark = pytest.mark.django_db


def test_it_is_the_configured_engine():
    assert settings.SESSION_ENGINE == "kuroco_billing.sessions"


def django_session_for(member) -> str:
    """A session written by Django's own database store, as before this store existed."""
    store = db.SessionStore()
    store[SESSION_KEY] = str(member.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = member.get_session_auth_hash()
    store.create()
    return store.session_key


def test_a_session_made_by_djangos_store_signs_the_member_in(client, cookie_api, member):
    client.cookies[settings.SESSION_COOKIE_NAME] = django_session_for(member)
    response = client.get(endpoint_url(cookie_api, "profile"))
    assert response.status_code == 200, response.content
    assert response.json()["member_id"] == member.pk


def test_an_expired_session_is_signed_out(client, cookie_api, member):
    auth_headers(client, cookie_api, member, MEMBER_PASSWORD)
    assert client.get(endpoint_url(cookie_api, "profile")).status_code == 200
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get(endpoint_url(cookie_api, "profile")).status_code == 401


def test_an_unknown_key_loads_nothing_and_is_forgotten():
    store = SessionStore("x" * 32)
    assert store.load() == {}
    assert store.session_key is None


def test_what_it_saves_djangos_store_reads(member):
    store = SessionStore()
    store["answer"] = 42
    store.create()
    assert db.SessionStore(store.session_key).load() == {"answer": 42}
    assert SessionStore(store.session_key).load() == {"answer": 42}
