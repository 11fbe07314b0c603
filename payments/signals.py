"""Receivers that keep grants right whatever else changes memberships."""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from members.models import Membership

from .services import grants


@receiver(post_delete, sender=Membership, dispatch_uid="payments.keep_paid_group")
def keep_paid_group(sender, instance: Membership, origin=None, **kwargs) -> None:
    # Only when memberships themselves are deleted: deleting the member or the
    # group takes its memberships with it, paid or not.
    if isinstance(origin, Membership) or (
        isinstance(origin, QuerySet) and origin.model is Membership
    ):
        grants.keep_paid_group(instance)


@receiver(pre_save, sender=Membership, dispatch_uid="payments.note_group_before")
def note_group_before(sender, instance: Membership, raw=False, **kwargs) -> None:
    # An administrator's row moved to another group takes that group back, as a
    # deletion would (the member editor's group select): remember which it was.
    if not raw and instance.pk is not None and instance.source == Membership.Source.ADMIN:
        instance._group_before = (Membership.objects.filter(pk=instance.pk)
                                  .values_list("group_id", flat=True).first())


@receiver(post_save, sender=Membership, dispatch_uid="payments.keep_paid_group_moved")
def keep_paid_group_moved(sender, instance: Membership, **kwargs) -> None:
    before = instance.__dict__.pop("_group_before", None)
    if before is not None and before != instance.group_id:
        grants.keep_paid_group(Membership(member_id=instance.member_id, group_id=before,
                                          source=Membership.Source.ADMIN))
