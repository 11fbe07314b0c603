"""Sign-in lockouts: keyed by account and address together, never extended, capped per address."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.hashers import MD5PasswordHasher

from tests.fixtures.accounts import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    MEMBER_EMAIL,
    MEMBER_PASSWORD,
    endpoint_url,
    post_json,
)
from tests.fixtures.clock import freeze

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


def login(client, api, email, password, address):
    return post_json(
        client, endpoint_url(api, "login_challenge"),
        {"email": email, "password": password}, REMOTE_ADDR=address,
    )


def fail(client, api, email, address, times):
    return [login(client, api, email, "wrong-password", address) for _ in range(times)][-1]


@pytest.fixture
def clock(monkeypatch):
    return freeze(monkeypatch)


@pytest.fixture
def cool_off(settings):
    # A short cool-off of our own, so the test reads in plain seconds.
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    return 15 * 60


@pytest.mark.parametrize("api_fixture", ["cookie_api", "token_api"])
def test_five_wrong_passwords_for_the_admin_do_not_lock_out_another_address(
    client, request, api_fixture, admin_user, settings
):
    api = request.getfixturevalue(api_fixture)
    assert settings.AXES_FAILURE_LIMIT == 5
    assert fail(client, api, ADMIN_EMAIL, ATTACKER, times=5).status_code == 429

    # The attacker's address stays locked, even with the right password...
    assert login(client, api, ADMIN_EMAIL, ADMIN_PASSWORD, ATTACKER).status_code == 429
    # ...while the administrator, from their own address, signs in.
    answer = login(client, api, ADMIN_EMAIL, ADMIN_PASSWORD, OWNER)
    assert answer.status_code == 200
    assert answer.json()["member_id"] == admin_user.pk


def test_the_admin_login_page_is_not_locked_from_another_address(client, admin_user):
    for _ in range(5):
        client.post("/admin/login/", {"username": ADMIN_EMAIL, "password": "wrong"},
                    REMOTE_ADDR=ATTACKER)
    locked = client.post("/admin/login/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                         REMOTE_ADDR=ATTACKER)
    assert locked.status_code == 429
    assert SESSION_KEY not in client.session

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, REMOTE_ADDR=OWNER,
    )
    assert response.status_code == 302
    assert int(client.session[SESSION_KEY]) == admin_user.pk


def test_attempts_during_a_lockout_do_not_extend_it(client, cookie_api, member, clock, cool_off):
    locked = fail(client, cookie_api, MEMBER_EMAIL, ATTACKER, times=5)
    wait = int(locked["Retry-After"])
    assert cool_off <= wait <= cool_off + 1

    # One wrong attempt every minute, all through the lockout.
    waited = 0
    while waited + 60 < wait:
        waited += 60
        clock.advance(60)
        assert fail(client, cookie_api, MEMBER_EMAIL, ATTACKER, times=1).status_code == 429

    clock.advance(wait - waited)  # as long as the first answer said, and no longer
    answer = login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD, ATTACKER)
    assert answer.status_code == 200


def test_retry_after_counts_down_to_the_end_of_the_lockout(
    client, token_api, member, clock, cool_off
):
    locked = fail(client, token_api, MEMBER_EMAIL, ATTACKER, times=5)
    assert locked.status_code == 429
    wait = int(locked["Retry-After"])
    assert cool_off <= wait <= cool_off + 1

    clock.advance(600)
    again = login(client, token_api, MEMBER_EMAIL, MEMBER_PASSWORD, ATTACKER)
    assert again.status_code == 429
    assert int(again["Retry-After"]) == wait - 600

    clock.advance(wait - 600 - 1)  # one second early: still locked
    assert login(client, token_api, MEMBER_EMAIL, MEMBER_PASSWORD, ATTACKER).status_code == 429
    clock.advance(1)
    assert login(client, token_api, MEMBER_EMAIL, MEMBER_PASSWORD, ATTACKER).status_code == 200


def test_failures_spread_over_time_only_count_within_the_cool_off(
    client, cookie_api, member, clock, cool_off
):
    fail(client, cookie_api, MEMBER_EMAIL, ATTACKER, times=4)
    clock.advance(cool_off + 1)
    # The four old failures have expired: one more is not a lockout.
    assert fail(client, cookie_api, MEMBER_EMAIL, ATTACKER, times=1).status_code == 401


def test_guessing_across_accounts_from_one_address_hits_the_address_cap(
    client, cookie_api, member, settings, clock, cool_off
):
    cap = settings.SIGN_IN_ADDRESS_FAILURE_LIMIT
    assert cap > settings.AXES_FAILURE_LIMIT
    # Four guesses per account stay under the per-account limit...
    for index in range(cap // 4):
        assert fail(client, cookie_api, f"guess{index}@example.com", ATTACKER,
                    times=4).status_code == 401
    # ...but the address has spent its allowance: any further guess is refused.
    last = fail(client, cookie_api, "one-more@example.com", ATTACKER, times=1)
    assert last.status_code == 429
    assert 0 < int(last["Retry-After"]) <= cool_off + 1

    # That address gets nowhere, not even with a right password...
    assert login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD, ATTACKER).status_code == 429
    # ...and the account it never touched still signs in from anywhere else.
    assert login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD, OWNER).status_code == 200

    clock.advance(int(last["Retry-After"]))
    assert login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD, ATTACKER).status_code == 200


def test_a_few_typos_from_a_shared_address_lock_nobody_else_out(
    client, cookie_api, member, other_member
):
    # Colleagues behind one NAT address: one of them mistypes until locked out.
    fail(client, cookie_api, MEMBER_EMAIL, ATTACKER, times=5)

    answer = login(client, cookie_api, other_member.email, "other-pass-123", ATTACKER)
    assert answer.status_code == 200


@pytest.mark.parametrize("typed", ["Member@Example.com", " MEMBER@example.com"])
def test_axes_reset_username_clears_the_account_however_the_operator_spells_it(
        cookie_api, member, typed):
    """The operator types the email as the member wrote it: the lockout is the account's."""
    from django.core.management import call_command
    from django.test import Client

    from tests.fixtures.accounts import MEMBER_EMAIL, MEMBER_PASSWORD, api_login

    client = Client()
    for _ in range(5):
        api_login(client, cookie_api, MEMBER_EMAIL, "wrong-password")
    assert "errors" in api_login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD)

    call_command("axes_reset_username", typed)

    assert api_login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD).get(
        "member_id") == member.pk


def test_axes_reset_ip_refuses_an_address_that_is_not_one(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"'203\.0\.113' is not an IPv4 or IPv6 address\."):
        call_command("axes_reset_ip", "203.0.113")
    with pytest.raises(CommandError, match="is not an IPv4"):
        call_command("axes_reset_ip", "203.0.113.66", "nonsense")


def test_axes_reset_ip_username_clears_the_account_from_that_address_however_spelled(
        cookie_api, member):
    from django.core.management import call_command
    from django.test import Client

    from tests.fixtures.accounts import MEMBER_EMAIL, MEMBER_PASSWORD, api_login

    client = Client()  # REMOTE_ADDR 127.0.0.1
    for _ in range(5):
        api_login(client, cookie_api, MEMBER_EMAIL, "wrong-password")
    assert "errors" in api_login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD)

    call_command("axes_reset_ip_username", "198.51.100.7", "Member@Example.com")
    assert "errors" in api_login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD)
    call_command("axes_reset_ip_username", "127.0.0.1", " Member@Example.com")

    assert api_login(client, cookie_api, MEMBER_EMAIL, MEMBER_PASSWORD).get(
        "member_id") == member.pk


def test_axes_reset_ip_username_refuses_an_address_that_is_not_one(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"'127\.0\.0' is not an IPv4 or IPv6 address\."):
        call_command("axes_reset_ip_username", "127.0.0", "member@example.com")


class SlowHasher(MD5PasswordHasher):
    """A password check that takes a while, as a real hash does."""

    def verify(self, password, encoded):
        time.sleep(2)
        return super().verify(password, encoded)


@pytest.mark.django_db(transaction=True)
def test_a_sign_in_checking_its_password_keeps_no_other_writer_waiting(
        live_server, settings, token_api, member):
    # SQLite (the demo) has one write lock: a sign-in must not hold it through the hash.
    import threading
    import urllib.error
    import urllib.request

    from tests.fixtures.accounts import endpoint_url

    settings.PASSWORD_HASHERS = [f"{__name__}.SlowHasher"]
    member.set_password(MEMBER_PASSWORD)
    member.save()
    url = live_server.url + endpoint_url(token_api, "login_challenge")

    def sign_in():
        request = urllib.request.Request(
            url, data=json.dumps({"email": member.email, "password": "wrong"}).encode(),
            method="POST", headers={"Content-Type": "application/json"})
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=30)

    thread = threading.Thread(target=sign_in)
    thread.start()
    time.sleep(0.7)  # the sign-in is checking the password now
    started = time.monotonic()
    type(member).objects.filter(pk=member.pk).update(name="written meanwhile")  # any writer
    waited = time.monotonic() - started
    thread.join()

    assert waited < 0.5, f"a write waited {waited:.2f} s for a sign-in's password check"
