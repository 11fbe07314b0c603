"""The member editor's billing panel: what it shows, and actions that confirm, log and report."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from members.models import Member
from payments.models import SubscriptionChange
from tests.billing.test_self_service import ApiClient, subscribe
from tests.fixtures.accounts import MEMBER_PASSWORD
from tests.fixtures.billing import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 86400


@pytest.fixture
def subscriber(stripe_enabled, checkout_api, member) -> Member:
    from members.models import MemberGroup
    from payments.setup_checks import check_group_price

    group = MemberGroup.objects.get(name="Gold")
    group.set_price_details(check_group_price(group.stripe_price_id).details)
    group.save()
    shopper = ApiClient(stripe_enabled.site_url, checkout_api).login(member.email,
                                                                      MEMBER_PASSWORD)
    return subscribe(stripe_enabled, shopper, member)


def editor(staff_client, member) -> str:
    response = staff_client.get(f"/admin/members/member/{member.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def action_url(member, action) -> str:
    return f"/admin/members/member/{member.pk}/billing/{action}/"


def test_panel_shows_plan_schedule_invoices_and_actions(staff_client, stripe_enabled,
                                                        subscriber):
    html = editor(staff_client, subscriber)

    assert "Gold (10.00 USD / month)" in html
    assert "Not scheduled" in html
    assert 'class="member-invoices"' in html and "/i/test_" in html
    assert action_url(subscriber, "cancel_at_period_end") in html
    assert action_url(subscriber, "cancel_now") in html
    assert action_url(subscriber, "resume") not in html
    assert f"{stripe_enabled.url}/subscriptions/{subscriber.stripe_subscription_id}" in html


def test_cancel_at_period_end_asks_then_acts_logs_and_reports(staff_client, stripe_enabled,
                                                              subscriber, admin_user):
    confirm = staff_client.get(action_url(subscriber, "cancel_at_period_end"))
    assert confirm.status_code == 200
    assert "keeps the groups until then" in confirm.content.decode()
    subscription = stripe_enabled.client.v1.subscriptions.retrieve(
        subscriber.stripe_subscription_id)
    assert not subscription.cancel_at_period_end  # asking changed nothing

    response = staff_client.post(action_url(subscriber, "cancel_at_period_end"), follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/members/member/{subscriber.pk}/change/"
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"Cancellation of {subscriber.stripe_subscription_id} scheduled for "
                        "the period end."]
    subscription = stripe_enabled.client.v1.subscriptions.retrieve(
        subscriber.stripe_subscription_id)
    assert subscription.cancel_at_period_end
    entry = LogEntry.objects.get(object_id=str(subscriber.pk))
    assert entry.user_id == admin_user.pk
    assert "Cancellation of" in entry.get_change_message()
    assert SubscriptionChange.objects.get().requested_by_id == admin_user.pk
    stripe_enabled.drain()
    assert wait_for(lambda: "(at period end)" in editor(staff_client, subscriber))
    html = editor(staff_client, subscriber)
    assert action_url(subscriber, "resume") in html
    assert list(Member.objects.get(pk=subscriber.pk).member_groups.values_list(
        "name", flat=True)) == ["Gold"]

    resumed = staff_client.post(action_url(subscriber, "resume"), follow=True)
    assert [str(m) for m in resumed.context["messages"]] == [
        f"Subscription {subscriber.stripe_subscription_id} resumed."]


def test_cancel_now_and_a_refusal_are_reported(staff_client, stripe_enabled, subscriber):
    response = staff_client.post(action_url(subscriber, "cancel_now"), follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        f"Subscription {subscriber.stripe_subscription_id} canceled."]
    assert not Member.objects.get(pk=subscriber.pk).member_groups.exists()

    again = staff_client.post(action_url(subscriber, "resume"), follow=True)
    [message] = list(again.context["messages"])
    assert message.level_tag == "error"
    assert str(message).startswith("Resume: ")
    assert LogEntry.objects.count() == 1


def test_unknown_action_is_404(staff_client, stripe_enabled, subscriber):
    assert staff_client.get(action_url(subscriber, "refund")).status_code == 404


@pytest.mark.django_db
def test_viewing_a_member_whose_customer_stripe_does_not_know_changes_nothing(
        client, stripe_keys_on_emulator):
    """The member's own invoices request forgets such a customer; an administrator's page
    view (view-only staff too) only says so."""
    from django.contrib.auth.models import Permission

    payer = Member.objects.create_user("payer@example.com", "payer-pass-123",
                                       stripe_customer_id="cus_neverhere")
    viewer = Member.objects.create_user("viewer@example.com", "viewer-pass-123",
                                        is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_member"))
    client.force_login(viewer)

    page = client.get(f"/admin/members/member/{payer.pk}/change/")

    assert page.status_code == 200
    assert "No such customer" in page.content.decode()
    payer.refresh_from_db()
    assert payer.stripe_customer_id == "cus_neverhere"
