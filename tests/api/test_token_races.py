"""Tokens issued at the very moment they are revoked: a refresh racing its own reuse, a
password change or a deactivation. docs/api.md, "Token lifetimes and revocation": no
pair issued by a refresh in flight outlives the revocation (tokens.redeem's locks)."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, PBKDF2PasswordHasher
from django.test import Client

from kuroco_billing.rcms_api.models import ApiToken
from members.models import Member
from tests.fixtures.accounts import MEMBER_PASSWORD, endpoint_url, http_post_json, issue_tokens

pytestmark = pytest.mark.django_db(transaction=True)


def _post(url, body):
    return http_post_json(url, body)


def _get(url, token):
    request = urllib.request.Request(url, headers={"X-RCMS-API-ACCESS-TOKEN": token})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_concurrent_refreshes_with_one_token_leave_no_live_token(live_server, client,
                                                                 token_api, member):
    token_url = live_server.url + endpoint_url(token_api, "token")
    profile_url = live_server.url + endpoint_url(token_api, "profile")
    survivors = []
    for _round in range(15):
        pair = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
        refresh = pair["refresh_token"]["value"]
        barrier = threading.Barrier(4)
        results = []

        def refresh_once():
            barrier.wait()
            results.append(_post(token_url, {"refresh_token": refresh}))

        threads = [threading.Thread(target=refresh_once) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for status, body in results:
            if status == 200 and _get(profile_url, body["access_token"]["value"]) == 200:
                survivors.append(body)
    # The same refresh token was presented several times at once: nobody may keep
    # a working access token from it.
    assert survivors == [], f"{len(survivors)} of 15 rounds left a working pair"
    assert not ApiToken.objects.filter(
        kind__in=[ApiToken.Kind.ACCESS, ApiToken.Kind.REFRESH], revoked_at__isnull=True
    ).exists()
def _keep_refreshing(token_url, refresh, stop, last):
    while not stop.is_set():
        status, body = _post(token_url, {"refresh_token": refresh})
        if status != 200:
            return
        refresh = body["refresh_token"]["value"]
        last.append(body)


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_no_token_outlives_the_change_while_refreshes_are_in_flight(live_server, token_api,
                                                                    member, change):
    token_url = live_server.url + endpoint_url(token_api, "token")
    profile_url = live_server.url + endpoint_url(token_api, "profile")
    leaks = 0
    for round_ in range(10):
        fresh = Member.objects.get(pk=member.pk)
        fresh.is_active = True
        fresh.set_password(MEMBER_PASSWORD)
        fresh.save()
        stop = threading.Event()
        outputs = [[] for _ in range(6)]
        threads = [
            threading.Thread(target=_keep_refreshing, args=(
                token_url, issue_tokens(Client(), token_api, member.email,
                                        MEMBER_PASSWORD)["refresh_token"]["value"],
                stop, outputs[i]))
            for i in range(6)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.15)
        fresh = Member.objects.get(pk=member.pk)
        if change == "password":
            fresh.set_password(f"new-password-{round_}")
        else:
            fresh.is_active = False
        fresh.save()
        time.sleep(0.15)
        stop.set()
        for thread in threads:
            thread.join()
        if change == "deactivation":
            # Reactivated later (no password change): every token should still be dead.
            fresh = Member.objects.get(pk=member.pk)
            fresh.is_active = True
            fresh.save()
        working = [o[-1] for o in outputs
                   if o and _get(profile_url, o[-1]["access_token"]["value"]) == 200]
        leaks += bool(working)
    assert leaks == 0, f"{leaks} of 10 rounds kept a live token after the {change}"


@contextmanager
def changed_as_it_signs_in(member, change: str):
    """While inside: a sign-in that reaches the point where it is recorded (between its
    password check and its grant) first sees the member's password changed or the
    member deactivated, committed by another connection."""
    from django.contrib.auth.signals import user_logged_in

    def change_meanwhile(**_signal):
        def commit_change():
            fresh = Member.objects.get(pk=member.pk)
            if change == "password":
                fresh.set_password("changed-meanwhile-123")
            else:
                fresh.is_active = False
            fresh.save()

        thread = threading.Thread(target=commit_change)  # its own connection: a real commit
        thread.start()
        thread.join()

    user_logged_in.connect(change_meanwhile, dispatch_uid="test-change-meanwhile")
    try:
        yield
    finally:
        user_logged_in.disconnect(dispatch_uid="test-change-meanwhile")


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_a_sign_in_whose_password_was_changed_as_it_checked_it_gets_no_grant(
        token_api, member, change):
    # The change commits between the password check and the grant's insert: the grant
    # of the old password must not be issued.
    from tests.fixtures.accounts import api_login

    with changed_as_it_signs_in(member, change):
        answer = api_login(Client(), token_api, member.email, MEMBER_PASSWORD)

    assert "grant_token" not in answer
    assert answer["errors"][0]["code"] == "unauthorized"
    assert not ApiToken.objects.filter(member=member, revoked_at__isnull=True).exists()


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_a_cookie_sign_in_changed_as_it_checked_it_keeps_no_session(cookie_api, member, change):
    from django.contrib.auth import SESSION_KEY
    from django.contrib.sessions.models import Session

    from tests.fixtures.accounts import api_login

    client = Client()
    with changed_as_it_signs_in(member, change):
        answer = api_login(client, cookie_api, member.email, MEMBER_PASSWORD)

    assert answer["errors"][0]["code"] == "unauthorized"
    assert [s for s in Session.objects.all()  # nothing of the refused sign-in is kept
            if s.get_decoded().get(SESSION_KEY) == str(member.pk)] == []
    if change == "deactivation":  # reactivated later: the refused sign-in stays refused
        Member.objects.filter(pk=member.pk).update(is_active=True)
    assert client.get(endpoint_url(cookie_api, "profile")).status_code == 401


class UpgradedHasher(PBKDF2PasswordHasher):
    """The hasher a Django upgrade brings: a sign-in re-hashes the stored password."""

    algorithm = "pbkdf2_upgraded"
    iterations = 1000


class OutgoingHasher(MD5PasswordHasher):
    """The stored hash's hasher; both sign-ins check it before either re-hashes."""

    barrier: threading.Barrier | None = None

    def verify(self, password, encoded):
        matched = super().verify(password, encoded)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        return matched


def test_two_sign_ins_that_rehash_the_password_at_once_both_get_a_grant(
        live_server, settings, token_api, member):
    # Each sign-in re-hashes the password (a new salt) and saves it: the other's
    # stored hash then differs from the one it checked, without any change.
    settings.PASSWORD_HASHERS = [f"{__name__}.UpgradedHasher", f"{__name__}.OutgoingHasher"]
    settings.TRUSTED_PROXY_COUNT = 1  # two addresses: two accounts' turns, not one
    Member.objects.filter(pk=member.pk).update(
        password=OutgoingHasher().encode(MEMBER_PASSWORD, OutgoingHasher().salt()))
    OutgoingHasher.barrier = threading.Barrier(2)
    url = live_server.url + endpoint_url(token_api, "login_challenge")
    answers = {}

    def sign_in(address):
        request = urllib.request.Request(
            url, data=json.dumps({"email": member.email, "password": MEMBER_PASSWORD}).encode(),
            method="POST", headers={"Content-Type": "application/json",
                                    "X-Forwarded-For": address})
        with urllib.request.urlopen(request, timeout=30) as answer:
            answers[address] = json.loads(answer.read())

    try:
        threads = [threading.Thread(target=sign_in, args=(address,))
                   for address in ("198.51.100.1", "198.51.100.2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        OutgoingHasher.barrier = None

    assert sorted(answers) == ["198.51.100.1", "198.51.100.2"], answers
    assert all("grant_token" in answer for answer in answers.values()), answers
