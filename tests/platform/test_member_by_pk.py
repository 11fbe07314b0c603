"""``Member.objects.get(pk=…)``: SQL written once, the ORM's answer (members/models.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Member

pytestmark = pytest.mark.django_db


def test_it_answers_what_the_orm_answers(member):
    found = Member.objects.get(pk=member.pk)
    orm = Member.objects.filter(pk=member.pk).get()
    assert found == orm
    assert {f.attname: getattr(found, f.attname) for f in Member._meta.concrete_fields} == {
        f.attname: getattr(orm, f.attname) for f in Member._meta.concrete_fields}
    assert found._state.adding is False
    found.name = "Renamed"
    found.save(update_fields=["name"])  # a real row instance: it saves
    assert Member.objects.filter(name="Renamed").count() == 1


def test_a_key_as_text_is_read_as_the_orm_reads_it(member):
    assert Member.objects.get(pk=str(member.pk)) == member


def test_no_such_member_is_does_not_exist(member):
    with pytest.raises(Member.DoesNotExist):
        Member.objects.get(pk=member.pk + 1000)
    with pytest.raises((ValueError, Member.DoesNotExist)):
        Member.objects.get(pk="not a number")


def test_other_lookups_go_through_the_orm(member):
    assert Member.objects.get(email=member.email) == member
    assert Member.objects.get(pk=member.pk, is_active=True) == member
    with CaptureQueriesContext(connection) as seen:
        Member.objects.get(pk=member.pk)
    assert len(seen.captured_queries) == 1
    assert "LIMIT" not in seen.captured_queries[0]["sql"]  # not the ORM's get()
