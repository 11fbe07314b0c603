"""Sign-ins sent at once from one address are held to the lockout's limits, as if sent in
turn (docs/operations.md, "Sign-in lockouts"): the API's and the admin's."""
from __future__ import annotations

import threading

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.fixtures.accounts import MEMBER_PASSWORD, endpoint_url, http_post_json

pytestmark = pytest.mark.django_db(transaction=True)


def _post(url, body):
    return http_post_json(url, body, timeout=60)

CHECKED: dict = {"wrong": 0, "right": 0, "order": []}
_counting = threading.Lock()


class CountingHasher(PBKDF2PasswordHasher):
    """The deployed hasher (PBKDF2, as slow as in production) that counts the passwords
    it really checks: a refused attempt never reaches it."""

    def verify(self, password, encoded):
        matched = super().verify(password, encoded)
        with _counting:
            CHECKED["right" if matched else "wrong"] += 1
            CHECKED["order"].append("right" if matched else "wrong")
        return matched


@pytest.fixture
def checked(settings):
    from django.db import connection

    if connection.vendor != "postgresql":  # the sign-ins' lock is PostgreSQL's (lockouts.py)
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CHECKED.update(wrong=0, right=0, order=[])
    return CHECKED


def burst(url, email, passwords):
    barrier = threading.Barrier(len(passwords))
    results: dict[str, int] = {}

    def guess(password):
        barrier.wait()
        results[password] = _post(url, {"email": email, "password": password})[0]

    threads = [threading.Thread(target=guess, args=(p,)) for p in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_parallel_guesses_check_no_more_passwords_than_the_failure_limit(
        checked, live_server, settings, token_api, member):
    """docs/operations.md: after AXES_FAILURE_LIMIT (5) wrong passwords for one email from
    one address, that email is locked out from that address. Twenty guesses sent at once
    from one address must not have twenty passwords checked."""
    url = live_server.url + endpoint_url(token_api, "login_challenge")

    results = burst(url, member.email, [f"guess-{n}" for n in range(20)])

    assert set(results.values()) <= {401, 429}, results
    assert checked["wrong"] <= settings.AXES_FAILURE_LIMIT, (
        f"{checked['wrong']} wrong passwords checked; answers {sorted(results.values())}")


def test_a_right_guess_in_a_parallel_burst_signs_in_only_where_in_turn_it_would(
        checked, live_server, settings, token_api, member):
    """The right password, sent with nineteen wrong ones at once: the passwords are
    checked as if sent in turn. It signs in only if fewer wrong ones than the limit were
    checked before it (a success clears the count, as axes does), and no more than the
    limit are checked after it."""
    url = live_server.url + endpoint_url(token_api, "login_challenge")

    results = burst(url, member.email,
                    [f"wrong-{n}" for n in range(19)] + [MEMBER_PASSWORD])

    limit = settings.AXES_FAILURE_LIMIT
    order = checked["order"]
    if results[MEMBER_PASSWORD] == 200:
        before = order.index("right")
        assert before < limit and len(order) - before - 1 <= limit, (order, results)
    else:
        assert results[MEMBER_PASSWORD] == 429 and order.count("wrong") == limit, (
            order, results)


def test_parallel_guesses_at_the_admin_sign_in_check_no_more_than_the_limit(
        checked, settings, admin_user):
    from django.test import Client

    barrier = threading.Barrier(12)
    statuses = []

    def guess(n):
        client = Client()
        barrier.wait()
        statuses.append(client.post("/admin/login/", {
            "username": admin_user.email, "password": f"guess-{n}"}).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(statuses) == 12
    assert checked["wrong"] <= settings.AXES_FAILURE_LIMIT, (
        f"{checked['wrong']} wrong passwords checked; answers {sorted(statuses)}")


def test_a_sign_in_waits_only_for_its_own_accounts_from_its_address(
        checked, token_api, member, other_member):
    from django.test import Client, RequestFactory

    from members.lockouts import one_sign_in_at_a_time
    from tests.fixtures.accounts import api_login

    held, release = threading.Event(), threading.Event()

    def hold_members_turn():  # as a sign-in of the member from 127.0.0.1 would
        request = RequestFactory().post("/", REMOTE_ADDR="127.0.0.1")
        with one_sign_in_at_a_time(request, member.email.upper()):
            held.set()
            release.wait(30)

    def sign_in(email, password, answers):
        answers.append(api_login(Client(), token_api, email, password))

    holder = threading.Thread(target=hold_members_turn)
    holder.start()
    assert held.wait(10)
    others, mine = [], []
    colleague = threading.Thread(target=sign_in,
                                 args=(other_member.email, "other-pass-123", others))
    own = threading.Thread(target=sign_in, args=(member.email, MEMBER_PASSWORD, mine))
    colleague.start()
    own.start()
    colleague.join(10)
    own.join(1)
    waited = own.is_alive()
    release.set()
    own.join(10)
    holder.join(10)

    assert others and others[0]["member_id"] == other_member.pk  # never waited
    assert waited and mine[0]["member_id"] == member.pk  # waited for its account's turn
