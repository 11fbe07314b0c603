"""The admin's sign-in lockout page: the site's look, the time left, a way back."""

import re

import pytest
from django.test import Client

from tests.fixtures.accounts import ADMIN_PASSWORD, MEMBER_EMAIL, endpoint_url, post_json

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
ADDRESS = "203.0.113.80"


def sign_in(client, email, password):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ADDRESS)


@pytest.fixture
def locked_out(admin_user, settings):
    settings.AXES_COOLOFF_TIME = 0.25  # 15 minutes
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(browser, admin_user.email, "wrong-password")
    return browser


def test_the_lockout_page_has_the_sites_look_time_left_and_a_way_back(locked_out, admin_user):
    response = sign_in(locked_out, admin_user.email, ADMIN_PASSWORD)

    assert response.status_code == 429
    html = response.content.decode()
    assert "<title>Sign-in locked | Kuroco Billing</title>" in html
    assert 'id="site-name"' in html and "kuroco_billing/admin.css" in html
    time_left = re.search(r'id="lockout-time-left">Try again in <strong>(\d+) minutes?</strong>',
                          html)
    assert time_left and 1 <= int(time_left.group(1)) <= 15
    assert 'id="lockout-back" href="/admin/login/?next=/admin/"' in html
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert "wrong-password" not in html and ADMIN_PASSWORD not in html


def test_the_way_back_opens_the_sign_in_form(locked_out, admin_user):
    sign_in(locked_out, admin_user.email, ADMIN_PASSWORD)

    page = locked_out.get(LOGIN)

    assert page.status_code == 200
    assert 'name="password"' in page.content.decode()


def test_a_lockout_without_end_says_who_can_clear_it(admin_user, settings):
    settings.AXES_COOLOFF_TIME = None
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(browser, admin_user.email, "wrong-password")

    html = sign_in(browser, admin_user.email, ADMIN_PASSWORD).content.decode()

    assert "The lockout lasts until an administrator clears it." in html


def test_the_api_keeps_its_json_429(cookie_api, member):
    attacker = Client()
    for _ in range(5):
        post_json(attacker, endpoint_url(cookie_api, "login_challenge"),
                  {"email": MEMBER_EMAIL, "password": "wrong-password"}, REMOTE_ADDR=ADDRESS)

    response = post_json(attacker, endpoint_url(cookie_api, "login_challenge"),
                         {"email": MEMBER_EMAIL, "password": "wrong-password"},
                         REMOTE_ADDR=ADDRESS)

    assert response.status_code == 429
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["errors"][0]["code"] == "too_many_requests"
