"""Only staff reach the admin; the index lists the integration."""

import pytest

from tests.fixtures.accounts import MEMBER_PASSWORD

ADMIN_PAGES = [
    "/admin/",
    "/admin/members/member/",
    "/admin/members/membergroup/",
    "/admin/payments/stripesettings/",
    "/admin/payments/stripesettings/1/change/",
    "/admin/payments/webhookevent/",
    "/admin/payments/subscriptionstate/",
    "/admin/rcms_api/api/",
    "/admin/rcms_api/endpoint/",
    "/admin/rcms_api/endpoint/add/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_anonymous_visitor_is_sent_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_signed_in_non_staff_member_is_sent_to_login(client, member, url):
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_member_cannot_sign_in_to_admin(client, member):
    response = client.post(
        "/admin/login/", {"username": member.email, "password": MEMBER_PASSWORD}
    )

    assert response.status_code == 200
    assert "staff account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_index_shows_stripe_under_settings(staff_client):
    response = staff_client.get("/admin/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<div class="app-settings module' in html
    assert 'href="/admin/payments/stripesettings/"' in html
    assert ">Stripe<" in html
