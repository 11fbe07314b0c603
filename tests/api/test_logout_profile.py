"""logout and profile on both security modes."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY

from kuroco_billing.rcms_api.models import ApiToken
from members.models import MemberGroup, Membership
from tests.fixtures.accounts import (
    COOKIE_ENDPOINTS,
    MEMBER_PASSWORD,
    OTHER_PASSWORD,
    auth_headers,
    endpoint_url,
    issue_tokens,
    make_api,
    post_json,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["cookie_api", "token_api"])
def any_api(request):
    return request.getfixturevalue(request.param)


def test_profile_answers_the_signed_in_member(client, any_api, member):
    gold = MemberGroup.objects.create(name="Gold")
    silver = MemberGroup.objects.create(name="Silver")
    MemberGroup.objects.create(name="Not mine")
    Membership.objects.create(member=member, group=gold)
    Membership.objects.create(member=member, group=silver, source=Membership.Source.STRIPE)
    member.stripe_customer_id = "cus_123"
    member.save()
    headers = auth_headers(client, any_api, member, MEMBER_PASSWORD)

    response = client.get(endpoint_url(any_api, "profile"), **headers)

    assert response.status_code == 200
    assert response.json() == {
        "member_id": member.pk,
        "email": "member@example.com",
        "name": "Member",
        "group_ids": {str(gold.pk): "Gold", str(silver.pk): "Silver"},
        "stripe_customer_id": "cus_123",
        "stripe_subscription_id": None,
        "messages": [],
        "errors": [],
    }


def test_profile_lists_groups_in_id_order_whatever_order_they_were_given(
        client, any_api, member, other_member):
    first, second, third = (MemberGroup.objects.create(name=name)
                            for name in ("Bronze", "Gold", "Silver"))
    Membership.objects.create(member=member, group=third, source=Membership.Source.STRIPE)
    Membership.objects.create(member=member, group=first)
    Membership.objects.create(member=other_member, group=second)  # someone else's
    headers = auth_headers(client, any_api, member, MEMBER_PASSWORD)

    body = client.get(endpoint_url(any_api, "profile"), **headers).json()

    assert list(body["group_ids"].items()) == [(str(first.pk), "Bronze"),
                                               (str(third.pk), "Silver")]


def test_profile_of_a_member_in_no_group(client, any_api, member):
    headers = auth_headers(client, any_api, member, MEMBER_PASSWORD)
    assert client.get(endpoint_url(any_api, "profile"), **headers).json()["group_ids"] == {}


def test_profile_without_signing_in_is_401(client, any_api):
    response = client.get(endpoint_url(any_api, "profile"))

    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["code"] == "unauthorized"
    assert body["x-rcms-request-id"] == response["x-rcms-request-id"]


def test_profile_is_each_members_own(client, any_api, member, other_member):
    headers = auth_headers(client, any_api, other_member, OTHER_PASSWORD)
    body = client.get(endpoint_url(any_api, "profile"), **headers).json()
    assert body["member_id"] == other_member.pk
    assert body["email"] == other_member.email


def test_cookie_logout_ends_the_session(client, cookie_api, member):
    auth_headers(client, cookie_api, member, MEMBER_PASSWORD)
    assert client.get(endpoint_url(cookie_api, "profile")).status_code == 200

    response = post_json(client, endpoint_url(cookie_api, "logout"))

    assert response.status_code == 200
    assert response.json() == {"status": 0, "messages": ["Logged out."], "errors": []}
    assert SESSION_KEY not in client.session
    assert client.get(endpoint_url(cookie_api, "profile")).status_code == 401


def test_the_session_is_shared_by_cookie_apis(client, cookie_api, member):
    second = make_api("cookie", COOKIE_ENDPOINTS, title="Second cookie API")
    auth_headers(client, cookie_api, member, MEMBER_PASSWORD)

    assert client.get(endpoint_url(second, "profile")).json()["member_id"] == member.pk
    post_json(client, endpoint_url(second, "logout"))
    assert client.get(endpoint_url(cookie_api, "profile")).status_code == 401


def test_token_logout_revokes_the_members_tokens_on_that_api(client, token_api, member,
                                                             other_member):
    mine = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    also_mine = issue_tokens(client, token_api, member.email, MEMBER_PASSWORD)
    theirs = issue_tokens(client, token_api, other_member.email, OTHER_PASSWORD)
    header = {"HTTP_X_RCMS_API_ACCESS_TOKEN": mine["access_token"]["value"]}

    response = post_json(client, endpoint_url(token_api, "logout"), **header)

    assert response.status_code == 200
    assert response.json() == {"status": 0, "messages": ["Logged out."], "errors": []}
    for tokens in (mine, also_mine):
        access = {"HTTP_X_RCMS_API_ACCESS_TOKEN": tokens["access_token"]["value"]}
        assert client.get(endpoint_url(token_api, "profile"), **access).status_code == 401
        refresh = post_json(client, endpoint_url(token_api, "token"),
                            {"refresh_token": tokens["refresh_token"]["value"]})
        assert refresh.status_code == 401
    other = {"HTTP_X_RCMS_API_ACCESS_TOKEN": theirs["access_token"]["value"]}
    assert client.get(endpoint_url(token_api, "profile"), **other).status_code == 200
    assert not [t for t in ApiToken.objects.filter(member=member) if t.is_usable]


def test_token_logout_accepts_an_empty_body(client, token_api, member):
    headers = auth_headers(client, token_api, member, MEMBER_PASSWORD)
    # No body and no Content-Type at all, as a bare fetch("…", {method: "POST"}) sends.
    response = client.generic("POST", endpoint_url(token_api, "logout"), b"", **headers)
    assert response.status_code == 200


def test_logout_without_signing_in_is_401(client, any_api):
    response = post_json(client, endpoint_url(any_api, "logout"))
    assert response.status_code == 401
