"""The tables a drain rewrites carry only indexes something reads: each row a batch
writes updates every index of its table
(docs/performance.md, "The collector, and indexes nothing read").
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from members.models import Member, MemberGroup, Membership
from payments.models import SubscriptionState

pytestmark = pytest.mark.django_db

INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relname = %s
"""


@pytest.fixture
def on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the LIKE (pattern_ops) indexes are PostgreSQL's")


def _indexes(model) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(INDEXES, [model._meta.db_table])
        return dict(cursor.fetchall())


@pytest.mark.parametrize("model", [Member, SubscriptionState, Membership])
def test_no_like_index_on_a_stripe_id(on_postgresql, model):
    # Stripe IDs are looked up whole (=), and the admin's search (icontains) cannot use one.
    like = {name: sql for name, sql in _indexes(model).items() if "pattern_ops" in sql
            and "email" not in sql}
    assert like == {}


def test_memberships_found_by_member_through_their_unique_index(on_postgresql):
    definitions = _indexes(Membership).values()
    assert any("UNIQUE" in sql and "(member_id, group_id)" in sql for sql in definitions)
    # A second index on member_id alone would only be written, never needed.
    assert not any(sql.endswith("(member_id)") for sql in definitions)


@pytest.mark.parametrize("field", ["stripe_customer_id", "stripe_subscription_id"])
def test_a_stripe_id_stays_unique_to_one_member(field):
    Member.objects.create(email="one@example.com", **{field: "id_taken"})
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.create(email="two@example.com", **{field: "id_taken"})
    # NULL marks "none", as many members as need it.
    Member.objects.create(email="three@example.com")
    Member.objects.create(email="four@example.com")
    assert Member.objects.filter(**{f"{field}__isnull": True}).count() >= 2


def test_a_subscription_has_one_state():
    SubscriptionState.objects.create(subscription_id="sub_once")
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionState.objects.create(subscription_id="sub_once")


def test_a_member_is_in_a_group_once():
    member = Member.objects.create(email="in@example.com")
    group = MemberGroup.objects.create(name="Gold")
    Membership.objects.create(member=member, group=group)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(member=member, group=group)
