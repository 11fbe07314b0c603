"""Kuroco Billing's own admin site: its name, the index grouped by task, "View site", the icon."""

import re

import pytest
from django.contrib import admin
from django.contrib.staticfiles import finders


def sections(html: str) -> dict[str, list[str]]:
    """The index's modules: heading -> the row names, in order."""
    found = {}
    for block in re.findall(r'<div class="app-[^"]*module.*?</table>', html, re.S):
        heading = re.search(r'<caption>\s*<a [^>]*>([^<]+)</a>', block).group(1)
        found[heading] = re.findall(r'<th scope="row"[^>]*>\s*<a [^>]*>([^<]+)</a>', block)
    return found


def test_header_and_title_name_kuroco_billing(staff_client):
    html = staff_client.get("/admin/").content.decode()

    assert '<div id="site-name"><a href="/admin/">Kuroco Billing</a></div>' in html
    assert "<title>Site administration | Kuroco Billing</title>" in html
    assert "Django administration" not in html


def test_index_is_grouped_as_a_billing_administrator_works(staff_client):
    html = staff_client.get("/admin/").content.decode()

    assert sections(html) == {
        "Billing": [
            "Overview", "Members", "Member groups", "Webhook events", "Refused webhook deliveries",
            "Subscription states", "Checkout intents",
        ],
        "Front-end API": ["APIs", "Endpoints"],
        "Settings": ["Stripe"],
        "Security": [
            "Sign-in lockouts", "Failed sign-ins", "Sign-in log", "Staff permission groups",
        ],
    }


def test_an_apps_own_page_still_lists_that_app(staff_client):
    response = staff_client.get("/admin/members/")

    assert response.status_code == 200
    assert "Member groups" in response.content.decode()


@pytest.mark.parametrize("setting, expected", [("/demo/", "/demo/"),
                                               ("https://members.example.com/", None)])
def test_view_site_leads_to_the_configured_front_end(staff_client, settings, setting, expected):
    settings.ADMIN_SITE_URL = setting

    html = staff_client.get("/admin/").content.decode()

    assert f'<a href="{expected or setting}">View site</a>' in html


def test_view_site_defaults_to_the_demo_page(staff_client):
    html = staff_client.get("/admin/").content.decode()

    assert '<a href="/demo/">View site</a>' in html
    assert staff_client.get("/demo/").status_code == 200


def test_admin_pages_name_an_icon_that_is_served(staff_client):
    html = staff_client.get("/admin/").content.decode()

    icon = re.search(r'<link rel="icon" href="/static/([^"]+)"', html).group(1)
    # The test client serves no static files: the browser test fetches it for real.
    assert finders.find(icon)


def test_favicon_ico_is_served_for_pages_without_a_link(client, db):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in response.content


def test_a_model_outside_the_sections_still_shows_under_other(rf, admin_user):
    from kuroco_billing.admin_site import group_app_list

    request = rf.get("/admin/")
    request.user = admin_user
    app_dict = {
        "extras": {"models": [{"object_name": "Report", "name": "Reports",
                               "admin_url": "/admin/extras/report/"}]},
        "members": {"models": [{"object_name": "Member", "name": "Members",
                                "admin_url": "/admin/members/member/"}]},
    }

    grouped = {s["name"]: [m["name"] for m in s["models"]]
               for s in group_app_list(admin.site, request, app_dict)}

    assert grouped == {"Billing": ["Overview", "Members"], "Other": ["Reports"]}
