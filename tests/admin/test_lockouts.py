"""Administrators see sign-in lockouts and clear them."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.fixtures.accounts import MEMBER_EMAIL, MEMBER_PASSWORD, endpoint_url, post_json

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
CHANGELIST = "/admin/axes/accessattempt/"


def login(client, api, password, address=ATTACKER):
    return post_json(client, endpoint_url(api, "login_challenge"),
                     {"email": MEMBER_EMAIL, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def locked_member(cookie_api, member):
    attacker = Client()
    for _ in range(5):
        login(attacker, cookie_api, "wrong-password")
    assert login(attacker, cookie_api, MEMBER_PASSWORD).status_code == 429
    return member


def test_the_lockout_shows_with_account_address_and_end(staff_client, locked_member):
    html = staff_client.get(CHANGELIST).content.decode()

    assert MEMBER_EMAIL in html and ATTACKER in html
    assert "locked out until" in html.lower()
    assert "wrong-password" not in html

    filtered = staff_client.get(CHANGELIST, {"q": ATTACKER}).content.decode()
    assert MEMBER_EMAIL in filtered


def test_clear_lockout_lets_the_member_in_again(staff_client, locked_member, cookie_api):
    attempt = AccessAttempt.objects.get(username=MEMBER_EMAIL, ip_address=ATTACKER)

    response = staff_client.post(
        CHANGELIST,
        {"action": "clear_lockout", "_selected_action": [attempt.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Cleared 1 failure record" in response.content.decode()
    assert not AccessAttempt.objects.exists()
    assert login(Client(), cookie_api, MEMBER_PASSWORD).status_code == 200


def test_view_only_staff_see_lockouts_but_cannot_clear_them(client, locked_member, db):
    from django.contrib.auth.models import Permission

    from members.models import Member

    viewer = Member.objects.create_user("viewer@example.com", "viewer-pass-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_accessattempt"))
    client.force_login(viewer)

    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert MEMBER_EMAIL in page.content.decode()
    assert "clear_lockout" not in page.content.decode()

    attempt = AccessAttempt.objects.get()
    client.post(CHANGELIST, {"action": "clear_lockout", "_selected_action": [attempt.pk]})
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()


def test_a_failed_admin_login_keeps_its_password_out_of_the_lockout_pages(staff_client):
    Client().post("/admin/login/", {"username": "someone@example.com",
                                    "password": "typed-secret-789"}, REMOTE_ADDR=ATTACKER)
    attempt = AccessAttempt.objects.get(ip_address=ATTACKER)

    for url in (CHANGELIST, f"{CHANGELIST}{attempt.pk}/change/",
                "/admin/axes/accessfailurelog/"):
        page = staff_client.get(url)
        assert page.status_code == 200
        assert "typed-secret-789" not in page.content.decode()


def test_the_admin_sign_in_lockout_holds_whatever_the_email_s_case(client, admin_user,
                                                                   settings):
    """Sign-in matches the email case-insensitively, so the lockout counts it that way:
    one more spelling is no fresh five guesses, nor a way in during the lockout."""
    from tests.fixtures.accounts import ADMIN_PASSWORD

    for spelling in ["admin@example.com", "ADMIN@example.com", " Admin@Example.com",
                     "admin@EXAMPLE.com", "aDmin@example.com"]:
        client.post("/admin/login/?next=/admin/",
                    {"username": spelling, "password": "wrong-guess"})

    signing_in = client.post("/admin/login/?next=/admin/",
                             {"username": "Admin@example.com", "password": ADMIN_PASSWORD})

    assert signing_in.status_code == 429
    assert AccessAttempt.objects.get().username == "admin@example.com"


@pytest.mark.parametrize("spelling", ["adm\u0131n@example.com", "ADM\u0131N@example.com"])
def test_a_spelling_the_database_matches_but_lower_case_does_not_is_the_same_account(
        client, admin_user, spelling):
    """The dotless i (U+0131): the database's case-insensitive match (UPPER) finds the
    administrator with it, so during the lockout it neither signs in nor guesses anew."""
    from django.contrib.auth import SESSION_KEY

    from tests.fixtures.accounts import ADMIN_PASSWORD

    for _ in range(5):
        client.post("/admin/login/?next=/admin/",
                    {"username": "admin@example.com", "password": "wrong-guess"})

    guess = client.post("/admin/login/?next=/admin/",
                        {"username": spelling, "password": "wrong-again"})
    signing_in = client.post("/admin/login/?next=/admin/",
                             {"username": spelling, "password": ADMIN_PASSWORD})

    assert (guess.status_code, signing_in.status_code) == (429, 429)
    assert SESSION_KEY not in client.session
    assert AccessAttempt.objects.get().username == "admin@example.com"
