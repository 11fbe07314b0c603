"""Members: list, add, editor with groups and Stripe, and the resync action."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Member, MemberGroup, Membership

CHANGELIST = "/admin/members/member/"


def change_url(member):
    return f"/admin/members/member/{member.pk}/change/"


@pytest.fixture
def gold(db):
    return MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold1")


@pytest.fixture
def silver(db):
    return MemberGroup.objects.create(name="Silver")


@pytest.fixture
def subscriber(db, gold, silver):
    member = Member.objects.create_user(
        "payer@example.com", "payer-pass-123", name="Payer",
        stripe_customer_id="cus_Payer1", stripe_subscription_id="sub_Payer1",
    )
    Membership.objects.create(
        member=member, group=gold, source="stripe", stripe_subscription_id="sub_Payer1"
    )
    Membership.objects.create(member=member, group=silver)
    return member


def inline_management(prefix="memberships", total=0, initial=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def change_post_data(member, **extra):
    data = {
        "email": member.email,
        "name": member.name,
        "is_active": "on",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        **inline_management(),
    }
    data.update(extra)
    return data


def shown_beside(html, label):
    """The read-only value the editor shows next to ``label``."""
    found = re.search(rf'<label>{label}:</label>\s*<div class="readonly">(.*?)</div>', html, re.S)
    assert found, f"no read-only {label!r} on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_list_shows_email_name_groups_and_stripe_ids(staff_client, subscriber):
    response = staff_client.get(CHANGELIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert "payer@example.com" in html
    assert "Payer" in html
    assert "Gold, Silver" in html
    assert "cus_Payer1" in html
    assert "sub_Payer1" in html


def test_list_reads_groups_without_a_query_per_member(staff_client, gold):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(CHANGELIST).status_code == 200
        return len(queries)

    Membership.objects.create(
        member=Member.objects.create_user("a@example.com", "x-pass-123"), group=gold
    )
    few = count_queries()
    for i in range(5):
        member = Member.objects.create_user(f"m{i}@example.com", "x-pass-123")
        Membership.objects.create(member=member, group=gold)

    assert count_queries() == few


@pytest.mark.parametrize("term", ["payer@", "Payer", "cus_Payer1", "sub_Payer1"])
def test_search_by_email_name_and_stripe_ids(staff_client, subscriber, member, term):
    response = staff_client.get(CHANGELIST, {"q": term})

    html = response.content.decode()
    assert "payer@example.com" in html
    assert "member@example.com" not in html


def test_filter_by_subscription_and_group(staff_client, subscriber, member, gold):
    with_sub = staff_client.get(CHANGELIST, {"has_subscription": "yes"}).content.decode()
    without = staff_client.get(CHANGELIST, {"has_subscription": "no"}).content.decode()
    in_gold = staff_client.get(CHANGELIST, {"member_groups__id__exact": gold.pk})

    assert "payer@example.com" in with_sub and "member@example.com" not in with_sub
    assert "member@example.com" in without and "payer@example.com" not in without
    assert "payer@example.com" in in_gold.content.decode()
    assert "member@example.com" not in in_gold.content.decode()


def test_add_member_with_email_and_password_twice(staff_client, db):
    form = staff_client.get("/admin/members/member/add/").content.decode()
    assert 'name="password1"' in form and 'name="password2"' in form

    response = staff_client.post(
        "/admin/members/member/add/",
        {"email": "New@Example.com", "name": "New", "password1": "fresh-pass-987",
         "password2": "fresh-pass-987"},
    )

    assert response.status_code == 302
    created = Member.objects.get(email="new@example.com")
    assert created.check_password("fresh-pass-987")
    assert not created.is_staff


def test_add_member_refuses_mismatched_passwords(staff_client, db):
    response = staff_client.post(
        "/admin/members/member/add/",
        {"email": "new@example.com", "password1": "fresh-pass-987",
         "password2": "other-pass-987"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["password2"] == [
        "The two password fields didn\u2019t match."
    ]
    assert not Member.objects.filter(email="new@example.com").exists()


def test_add_member_refuses_an_email_already_used_in_another_case(staff_client, member):
    response = staff_client.post(
        "/admin/members/member/add/",
        {"email": "MEMBER@example.com", "password1": "fresh-pass-987",
         "password2": "fresh-pass-987"},
    )

    assert response.status_code == 200
    assert "Member with this Email address already exists." in response.content.decode()


def test_editor_shows_password_link_groups_and_read_only_stripe_ids(staff_client, subscriber):
    response = staff_client.get(change_url(subscriber))

    html = response.content.decode()
    assert response.status_code == 200
    assert "../password/" in html
    assert "algorithm" in html  # the hash summary, never an input with the hash
    assert 'name="password"' not in html
    # Groups inline: group, why the member is in it, joined at.
    assert "By a Stripe subscription (sub_Payer1)" in html
    assert "By an administrator" in html
    assert "Why" in html
    assert "Joined at" in html
    # The Stripe IDs are shown, not editable.
    assert "cus_Payer1" in html and "sub_Payer1" in html
    assert 'name="stripe_customer_id"' not in html
    assert 'name="stripe_subscription_id"' not in html


def test_editor_without_subscription_shows_dashes(staff_client, member):
    html = staff_client.get(change_url(member)).content.decode()

    assert shown_beside(html, "Subscription status") == "—"
    assert shown_beside(html, "Current period ends") == "—"


def test_membership_added_in_admin_has_source_admin(staff_client, member, gold):
    data = change_post_data(member, **inline_management(total=1))
    data.update({"memberships-0-group": gold.pk, "memberships-0-member": member.pk})

    response = staff_client.post(change_url(member), data)

    assert response.status_code == 302, response.content.decode()
    membership = Membership.objects.get(member=member)
    assert membership.group == gold
    assert membership.source == Membership.Source.ADMIN


def test_stripe_granted_membership_keeps_group_and_source(staff_client, subscriber, gold, silver):
    stripe_row = Membership.objects.get(member=subscriber, group=gold)
    admin_row = Membership.objects.get(member=subscriber, group=silver)
    data = change_post_data(subscriber, **inline_management(total=2, initial=2))
    data.update({
        "memberships-0-id": stripe_row.pk, "memberships-0-member": subscriber.pk,
        # A tampered submission trying to move the Stripe row to another group.
        "memberships-0-group": silver.pk,
        "memberships-1-id": admin_row.pk, "memberships-1-member": subscriber.pk,
        "memberships-1-group": silver.pk,
    })

    response = staff_client.post(change_url(subscriber), data)

    assert response.status_code == 302, response.content.decode()
    stripe_row.refresh_from_db()
    assert stripe_row.group == gold
    assert stripe_row.source == Membership.Source.STRIPE
    assert stripe_row.stripe_subscription_id == "sub_Payer1"


def test_stripe_ids_cannot_be_changed_through_the_form(staff_client, subscriber):
    data = change_post_data(subscriber, stripe_customer_id="cus_Forged", **{
        "stripe_subscription_id": "sub_Forged"})
    data.update(inline_management())

    staff_client.post(change_url(subscriber), data)

    subscriber.refresh_from_db()
    assert subscriber.stripe_customer_id == "cus_Payer1"
    assert subscriber.stripe_subscription_id == "sub_Payer1"

