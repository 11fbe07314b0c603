"""Tokens issued at the very moment they are revoked: a refresh racing its own reuse, a
password change or a deactivation. docs/api.md, "Token lifetimes and revocation": no
pair issued by a refresh in flight outlives the revocation (tokens.redeem's locks)."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.test import Client

from kuroco_billing.rcms_api.models import ApiToken
from members.models import Member
from tests.fixtures.accounts import MEMBER_PASSWORD, endpoint_url, issue_tokens

pytestmark = pytest.mark.django_db(transaction=True)


def _post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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
