"""The member list: subscription status, plan and period end, their filters, and search."""

import datetime
import re

import pytest
from django.utils import timezone

from members.models import Member, MemberGroup
from payments.models import SubscriptionState

CHANGELIST = "/admin/members/member/"
PERIOD_END = datetime.datetime(2026, 12, 28, 7, 11, tzinfo=datetime.UTC)
STATUSES = ["active", "trialing", "past_due", "unpaid", "canceled"]


@pytest.fixture
def plans(db):
    return {
        "gold": MemberGroup.objects.create(name="Gold", stripe_price_id="price_gold"),
        "silver": MemberGroup.objects.create(name="Silver", stripe_price_id="price_silver"),
    }


@pytest.fixture
def members(plans):
    """One member per status (alternating plans) and one without a subscription."""
    made = {"none": Member.objects.create_user("none@example.com", "x-pass-123", name="Nobody")}
    for i, status in enumerate(STATUSES):
        price = "price_gold" if i % 2 == 0 else "price_silver"
        made[status] = Member.objects.create_user(
            f"{status}@example.com", "x-pass-123", name=f"Name {status}",
            stripe_customer_id=f"cus_{status}", stripe_subscription_id=f"sub_{status}",
        )
        SubscriptionState.objects.create(
            subscription_id=f"sub_{status}", customer_id=f"cus_{status}", status=status,
            price_ids=[price], deleted=status == "canceled",
            current_period_end=PERIOD_END + datetime.timedelta(days=i),
        )
    return made


def rows(html: str) -> dict[str, str]:
    """Each result row's email -> the row's HTML."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html.split('id="result_list"')[1], re.S):
        email = re.search(r"([a-z_]+@example\.com)", row)
        if email:
            found[email.group(1)] = row
    return found


def cell(row: str, column: str) -> str:
    return re.search(rf'<td class="field-{column}[^"]*">(.*?)</td>', row, re.S).group(1).strip()


def test_columns_show_status_plan_and_period_end(staff_client, members):
    listing = rows(staff_client.get(CHANGELIST).content.decode())

    active = listing["active@example.com"]
    assert cell(active, "subscription_status_column") == "active"
    assert cell(active, "plan_column") == "Gold"
    assert cell(active, "period_end_column") == "2026-12-28 07:11 UTC"
    assert cell(listing["trialing@example.com"], "plan_column") == "Silver"
    assert cell(listing["past_due@example.com"], "subscription_status_column") == "past_due"
    nobody = listing["none@example.com"]
    assert cell(nobody, "subscription_status_column") == "—"
    assert cell(nobody, "plan_column") == "—"
    assert cell(nobody, "period_end_column") == "—"


def test_column_headers_read_as_people_say_them(staff_client, members):
    html = staff_client.get(CHANGELIST).content.decode()

    for header in ("Subscription status", "Plan", "Current period ends"):
        assert re.search(rf">\s*{header}\s*<", html), header


@pytest.mark.parametrize("status", ["none", *STATUSES])
def test_filter_by_subscription_status(staff_client, members, status):
    response = staff_client.get(CHANGELIST, {"subscription_status": status})

    expected = [f"{status}@example.com"]
    if status == "none":
        expected.insert(0, "admin@example.com")  # the signed-in administrator pays nothing
    assert response.status_code == 200
    assert list(rows(response.content.decode())) == expected


def test_status_filter_offers_every_status(staff_client, members):
    html = staff_client.get(CHANGELIST).content.decode()

    for status in ["none", *STATUSES]:
        assert f"?subscription_status={status}" in html


@pytest.mark.parametrize("plan, expected", [
    ("gold", {"active", "past_due", "canceled"}),
    ("silver", {"trialing", "unpaid"}),
])
def test_filter_by_plan(staff_client, members, plans, plan, expected):
    response = staff_client.get(CHANGELIST, {"plan": plans[plan].pk})

    assert set(rows(response.content.decode())) == {f"{s}@example.com" for s in expected}


def test_plan_filter_offers_priced_groups_only(staff_client, members):
    MemberGroup.objects.create(name="Staff only")

    html = staff_client.get(CHANGELIST).content.decode()
    plan_filter = re.search(r"By plan.*?</ul>", html, re.S).group(0)

    assert ">Gold<" in plan_filter and ">Silver<" in plan_filter
    assert "Staff only" not in plan_filter


@pytest.mark.parametrize("term", ["past_due@", "Name past_due", "cus_past_due", "sub_past_due"])
def test_search_by_email_name_customer_and_subscription(staff_client, members, term):
    response = staff_client.get(CHANGELIST, {"q": term})

    assert list(rows(response.content.decode())) == ["past_due@example.com"]


def test_status_and_period_end_sort(staff_client, members):
    # Last by email yet active, so sorting by status differs from sorting by email.
    Member.objects.create_user("zz_active@example.com", "x-pass-123",
                               stripe_subscription_id="sub_zz_active")
    SubscriptionState.objects.create(subscription_id="sub_zz_active", status="active",
                                     current_period_end=PERIOD_END)
    # Column indexes count the action checkbox first: 3 is the status, 5 the period end.
    # Only members with a subscription, where NULLs sort differs between databases.
    by_status = staff_client.get(CHANGELIST, {"o": "-3", "has_subscription": "yes"})
    html = staff_client.get(CHANGELIST, {"o": "-5", "has_subscription": "yes"}).content.decode()

    shown = [cell(row, "subscription_status_column")
             for row in rows(by_status.content.decode()).values()]
    assert shown == ["unpaid", "trialing", "past_due", "canceled", "active", "active"]
    # Period end, newest first.
    assert list(rows(html))[:2] == ["canceled@example.com", "unpaid@example.com"]


def test_list_queries_do_not_grow_with_members(staff_client, plans, django_assert_max_num_queries):
    Member.objects.bulk_create(
        Member(email=f"m{i}@example.com", password="!", stripe_subscription_id=f"sub_m{i}")
        for i in range(100)
    )
    SubscriptionState.objects.bulk_create(
        SubscriptionState(subscription_id=f"sub_m{i}", status="active", price_ids=["price_gold"],
                          current_period_end=timezone.now())
        for i in range(100)
    )

    with django_assert_max_num_queries(14):
        response = staff_client.get(CHANGELIST, {"subscription_status": "active"})

    assert response.content.decode().count(">Gold</td>") == 100


def test_cancels_at_column_and_cancellation_scheduled_filter(staff_client, members):
    cancel_at = PERIOD_END + datetime.timedelta(days=30)
    SubscriptionState.objects.filter(subscription_id="sub_active").update(
        cancel_at_period_end=True)  # ends with its period
    SubscriptionState.objects.filter(subscription_id="sub_trialing").update(cancel_at=cancel_at)

    listing = rows(staff_client.get(CHANGELIST).content.decode())
    assert cell(listing["active@example.com"], "cancels_at_column") == "2026-12-28 07:11 UTC"
    assert cell(listing["trialing@example.com"], "cancels_at_column") == "2027-01-27 07:11 UTC"
    assert cell(listing["past_due@example.com"], "cancels_at_column") == "—"

    scheduled = rows(staff_client.get(CHANGELIST + "?cancellation_scheduled=yes").content.decode())
    assert set(scheduled) == {"active@example.com", "trialing@example.com"}
    others = rows(staff_client.get(CHANGELIST + "?cancellation_scheduled=no").content.decode())
    assert "active@example.com" not in others and "none@example.com" in others
