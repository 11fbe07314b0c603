"""Receivers that keep grants right whatever else changes memberships."""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.signals import post_delete
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
