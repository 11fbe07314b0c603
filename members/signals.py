"""A new password or a deactivation signs the member out of everything.

Hooked on the model's save, so that every way in counts: the admin forms,
``manage.py changepassword``, ``set_password()`` in a shell.
"""

from __future__ import annotations

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from .models import Member

_CREDENTIAL_FIELDS = {"password", "is_active"}


@receiver(pre_save, sender=Member, dispatch_uid="members.note_credentials_change")
def note_credentials_change(
    sender, instance: Member, raw: bool = False, update_fields=None, **kwargs
) -> None:
    instance._ends_sign_ins = False
    if raw or instance.pk is None:
        return
    if update_fields is not None and not _CREDENTIAL_FIELDS & set(update_fields):
        return  # e.g. last_login on every sign-in: no query
    if _is_hash_upgrade(instance, update_fields):
        return
    previous = Member.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if previous is None:
        return
    instance._ends_sign_ins = previous["password"] != instance.password or (
        previous["is_active"] and not instance.is_active
    )


def _is_hash_upgrade(instance: Member, update_fields) -> bool:
    # check_password() re-hashes the same password with a newer hasher and
    # saves only "password", after clearing the raw password that
    # set_password() keeps until the save: the member's password is unchanged.
    return getattr(instance, "_password", None) is None and set(update_fields or ()) == {
        "password"
    }


@receiver(post_save, sender=Member, dispatch_uid="members.end_sign_ins")
def end_sign_ins(sender, instance: Member, raw: bool = False, **kwargs) -> None:
    if raw or not getattr(instance, "_ends_sign_ins", False):
        return
    instance._ends_sign_ins = False
    from .services import end_every_sign_in

    end_every_sign_in(instance)
