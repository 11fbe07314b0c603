"""A password change or deactivation ends every sign-in of the member, on every API."""

from __future__ import annotations

import getpass

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client

from kuroco_billing.rcms_api.models import ApiToken
from tests.fixtures.accounts import (
    MEMBER_PASSWORD,
    OTHER_PASSWORD,
    TOKEN_ENDPOINTS,
    api_login,
    endpoint_url,
    issue_tokens,
    make_api,
    post_json,
)

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "brand-new-pass-456"


@pytest.fixture
def second_token_api(db):
    return make_api("dynamic_token", TOKEN_ENDPOINTS, title="Second token API")


@pytest.fixture
def staff(admin_user):
    browser = Client()
    browser.force_login(admin_user)
    return browser


class SignIns:
    """The member signed in everywhere at once: two token APIs and a cookie API."""

    def __init__(self, member, password, token_apis, cookie_api):
        self.member = member
        self.token_apis = token_apis
        self.cookie_api = cookie_api
        self.tokens = {api.pk: issue_tokens(Client(), api, member.email, password)
                       for api in token_apis}
        self.browser = Client()
        assert api_login(self.browser, cookie_api, member.email, password)["member_id"]

    def profile_statuses(self) -> list[int]:
        statuses = [
            Client().get(endpoint_url(api, "profile"), HTTP_X_RCMS_API_ACCESS_TOKEN=(
                self.tokens[api.pk]["access_token"]["value"])).status_code
            for api in self.token_apis
        ]
        statuses.append(self.browser.get(endpoint_url(self.cookie_api, "profile")).status_code)
        return statuses

    def refresh_statuses(self) -> list[int]:
        return [
            post_json(Client(), endpoint_url(api, "token"),
                      {"refresh_token": self.tokens[api.pk]["refresh_token"]["value"]}
                      ).status_code
            for api in self.token_apis
        ]


@pytest.fixture
def signed_in(member, other_member, token_api, second_token_api, cookie_api):
    apis = [token_api, second_token_api]
    mine = SignIns(member, MEMBER_PASSWORD, apis, cookie_api)
    theirs = SignIns(other_member, OTHER_PASSWORD, apis, cookie_api)
    assert mine.profile_statuses() == [200, 200, 200]
    return mine, theirs


def change_in_admin_form(staff, member):
    response = staff.post(
        f"/admin/members/member/{member.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content


def change_with_set_password(staff, member):
    member.set_password(NEW_PASSWORD)
    member.save()


def change_with_changepassword(staff, member, monkeypatch):
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", member.email, stdout=None)


def deactivate_in_admin_form(staff, member):
    response = staff.post(
        f"/admin/members/member/{member.pk}/change/",
        {
            "email": member.email, "name": member.name,
            "date_joined_0": "2024-01-01", "date_joined_1": "00:00:00",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
        },  # "is_active" unticked
    )
    assert response.status_code == 302, response.content


def deactivate_with_save(staff, member):
    member.is_active = False
    member.save()


CHANGES = {
    "admin password form": change_in_admin_form,
    "set_password and save": change_with_set_password,
    "manage.py changepassword": change_with_changepassword,
    "admin active checkbox": deactivate_in_admin_form,
    "is_active and save": deactivate_with_save,
}


@pytest.mark.parametrize("how", CHANGES)
def test_the_change_ends_every_sign_in_of_the_member_only(
    how, signed_in, staff, monkeypatch
):
    mine, theirs = signed_in
    change = CHANGES[how]
    args = (staff, mine.member, monkeypatch) if "changepassword" in how else (
        staff, mine.member)
    change(*args)

    assert mine.profile_statuses() == [401, 401, 401]
    tokens_before = ApiToken.objects.filter(member=mine.member).count()
    assert mine.refresh_statuses() == [401, 401]
    assert ApiToken.objects.filter(member=mine.member).count() == tokens_before
    assert not ApiToken.objects.filter(
        member=mine.member, revoked_at__isnull=True, kind__in=["access", "refresh"]
    ).exists()
    member_sessions = [s for s in Session.objects.all()
                       if s.get_decoded().get("_auth_user_id") == str(mine.member.pk)]
    assert member_sessions == []

    # Nobody else is signed out.
    assert theirs.profile_statuses() == [200, 200, 200]


def test_the_new_password_signs_in_afresh(signed_in, staff, token_api):
    mine, _ = signed_in
    change_in_admin_form(staff, mine.member)

    fresh = issue_tokens(Client(), token_api, mine.member.email, NEW_PASSWORD)
    answer = Client().get(endpoint_url(token_api, "profile"),
                          HTTP_X_RCMS_API_ACCESS_TOKEN=fresh["access_token"]["value"])
    assert answer.status_code == 200


@pytest.mark.parametrize("edit", [
    {"name": "Renamed"},
    {"stripe_customer_id": "cus_Kept1"},
])
def test_other_edits_keep_the_sign_ins(signed_in, edit):
    mine, _ = signed_in
    for field, value in edit.items():
        setattr(mine.member, field, value)
    mine.member.save()

    assert mine.profile_statuses() == [200, 200, 200]


def test_an_administrator_changing_their_own_password_stays_signed_in_there(
    admin_user, token_api
):
    from tests.fixtures.accounts import ADMIN_PASSWORD

    phone = issue_tokens(Client(), token_api, admin_user.email, ADMIN_PASSWORD)
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post("/admin/password_change/", {
        "old_password": ADMIN_PASSWORD, "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    })
    assert response.status_code == 302, response.content

    assert browser.get("/admin/").status_code == 200  # this browser goes on
    answer = Client().get(endpoint_url(token_api, "profile"),
                          HTTP_X_RCMS_API_ACCESS_TOKEN=phone["access_token"]["value"])
    assert answer.status_code == 401  # the phone signs in again


def test_a_hasher_upgrade_at_sign_in_is_not_a_password_change(
    signed_in, settings, cookie_api
):
    mine, _ = signed_in
    old_hash = mine.member.password
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]

    assert api_login(Client(), cookie_api, mine.member.email, MEMBER_PASSWORD)["member_id"]

    mine.member.refresh_from_db()
    assert mine.member.password != old_hash  # re-hashed with the preferred hasher
    assert mine.profile_statuses()[:2] == [200, 200]
