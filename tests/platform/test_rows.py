"""Rows read with raw SQL become what the ORM would have given (kuroco_billing.rows)."""

from __future__ import annotations

import pytest
from django.db import connection

from kuroco_billing.rows import columns, db_values, from_row
from members.models import Member
from payments.models import SubscriptionState

pytestmark = pytest.mark.django_db


def _raw(model, pk: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {columns(model, "t")} FROM "{model._meta.db_table}" t '
                       'WHERE t."id" = %s', [pk])
        return cursor.fetchone()


def test_a_raw_row_becomes_the_instance_the_orm_gives():
    member = Member.objects.create_user("rows@example.com", "pass-word-123")
    stored = SubscriptionState.objects.create(
        subscription_id="sub_rows", member=member, status="active",
        price_ids=["price_gold", "price_extra"], cancel_at_period_end=True)
    expected = SubscriptionState.objects.get(pk=stored.pk)

    state = from_row(SubscriptionState, _raw(SubscriptionState, stored.pk))

    assert state.price_ids == ["price_gold", "price_extra"]  # JSON decoded
    assert state.updated_at == expected.updated_at and state.updated_at.tzinfo is not None
    assert {f.attname: getattr(state, f.attname) for f in SubscriptionState._meta.concrete_fields} \
        == {f.attname: getattr(expected, f.attname)
            for f in SubscriptionState._meta.concrete_fields}
    assert state._state.adding is False and state._state.db == connection.alias


def test_some_fields_only_and_a_row_of_the_wrong_length():
    field = SubscriptionState._meta.get_field("price_ids")
    assert db_values(SubscriptionState, ['["price_gold"]'], [field]) == [["price_gold"]]
    with pytest.raises(ValueError, match="2 values for 1 fields"):
        db_values(SubscriptionState, ['["a"]', "x"], [field])
