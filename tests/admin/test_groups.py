"""Member groups: list with member counts; the price field only while Stripe is on."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Member, MemberGroup, Membership
from payments.models import StripeSettings

CHANGELIST = "/admin/members/membergroup/"
ADD = "/admin/members/membergroup/add/"


@pytest.fixture
def stripe_enabled(db):
    settings_obj = StripeSettings.load()
    settings_obj.enabled = True
    settings_obj.publishable_key = "pk_test_abc123"
    settings_obj.secret_key = "sk_test_abc123"
    settings_obj.webhook_secret = "whsec_abc123"
    settings_obj.save()
    return settings_obj


def test_list_shows_name_price_and_member_count(staff_client, member, other_member):
    gold = MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold1")
    MemberGroup.objects.create(name="Empty")
    Membership.objects.create(member=member, group=gold)
    Membership.objects.create(member=other_member, group=gold)

    response = staff_client.get(CHANGELIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert "price_gold1" in html
    assert '<td class="field-member_count">2</td>' in html
    assert '<td class="field-member_count">0</td>' in html


def test_list_counts_members_in_one_query(staff_client, db):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(CHANGELIST).status_code == 200
        return len(queries)

    MemberGroup.objects.create(name="First")
    few = count_queries()
    for i in range(5):
        group = MemberGroup.objects.create(name=f"Group {i}")
        Membership.objects.create(
            member=Member.objects.create_user(f"m{i}@example.com", "x-pass-123"), group=group
        )

    assert count_queries() == few


def test_price_field_hidden_while_stripe_disabled(staff_client, db):
    group = MemberGroup.objects.create(name="Gold", stripe_price_id="price_keep1")

    add_html = staff_client.get(ADD).content.decode()
    change_html = staff_client.get(f"{CHANGELIST}{group.pk}/change/").content.decode()

    assert 'name="name"' in add_html
    assert 'name="stripe_price_id"' not in add_html
    assert 'name="stripe_price_id"' not in change_html


def test_saving_while_disabled_keeps_the_price(staff_client, db):
    group = MemberGroup.objects.create(name="Gold", stripe_price_id="price_keep1")

    response = staff_client.post(
        f"{CHANGELIST}{group.pk}/change/", {"name": "Gold plus", "description": ""}
    )

    assert response.status_code == 302
    group.refresh_from_db()
    assert group.name == "Gold plus"
    assert group.stripe_price_id == "price_keep1"


def test_price_field_shown_while_stripe_enabled(staff_client, stripe_enabled):
    html = staff_client.get(ADD).content.decode()

    assert 'name="stripe_price_id"' in html


@pytest.mark.parametrize("bad", ["prod_123", "price_", "price_with space", "gold"])
def test_malformed_price_is_refused(staff_client, stripe_enabled, bad):
    response = staff_client.post(ADD, {"name": "Gold", "stripe_price_id": bad})

    assert response.status_code == 200
    assert "Enter a Stripe price ID of the form price_…" in response.content.decode()
    assert not MemberGroup.objects.filter(name="Gold").exists()


def test_price_used_by_another_group_is_refused(staff_client, stripe_enabled):
    MemberGroup.objects.create(name="Gold", stripe_price_id="price_taken1")

    response = staff_client.post(ADD, {"name": "Silver", "stripe_price_id": "price_taken1"})

    assert response.status_code == 200
    assert "Member group with this Stripe price ID already exists." in (
        response.content.decode()
    )


def test_group_without_price_is_saved(staff_client, stripe_enabled):
    response = staff_client.post(ADD, {"name": "Free", "stripe_price_id": ""})

    assert response.status_code == 302
    assert MemberGroup.objects.get(name="Free").stripe_price_id is None


def test_removing_a_price_endpoints_sell_names_them(staff_client, stripe_enabled, cookie_api):
    """Saved (the administrator may mean it), with a warning: those endpoints now refuse
    to sell it (422), until their products list changes."""
    from kuroco_billing.rcms_api.models import Endpoint

    gold = MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold1")
    Endpoint.objects.create(api=cookie_api, path="stripe/checkout", operation="checkout",
                            parameters={"products_list": ["price_gold1"],
                                        "return_url": "https://www.example.com/thanks"})
    Endpoint.objects.create(api=cookie_api, path="stripe/plans", operation="plans",
                            parameters={"products_list": ["price_other1", "price_gold1"]})

    response = staff_client.post(f"/admin/members/membergroup/{gold.pk}/change/",
                                 {"name": "Gold", "description": "", "stripe_price_id": ""},
                                 follow=True)

    gold.refresh_from_db()
    assert gold.stripe_price_id is None
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert warnings == [
        f"price_gold1 is no group's price now, yet these endpoints still offer it: "
        f"/rcms-api/{cookie_api.pk}/stripe/checkout, /rcms-api/{cookie_api.pk}/stripe/plans. "
        "They refuse to sell it (422) until their products list changes."]
