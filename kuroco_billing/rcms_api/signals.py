"""Tokens die with their API's configuration.

Disabling an API, or switching its security mode, revokes every token it
issued: a token is only as good as the settings it was issued under.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from . import tokens
from .models import Api


@receiver(pre_delete, sender=Api, dispatch_uid="rcms_api.api_lock_before_delete")
@receiver(pre_delete, sender=settings.AUTH_USER_MODEL,
          dispatch_uid="rcms_api.member_lock_before_delete")
def lock_before_delete(sender, instance, **kwargs) -> None:
    tokens.lock_before_delete(instance)


@receiver(pre_save, sender=Api, dispatch_uid="rcms_api.api_note_token_revocation")
def note_token_revocation(sender, instance: Api, raw: bool = False, **kwargs) -> None:
    instance._revoke_tokens = False
    if raw or instance.pk is None:
        return
    previous = Api.objects.filter(pk=instance.pk).values("enabled", "security").first()
    if previous is None:
        return
    instance._revoke_tokens = (
        (previous["enabled"] and not instance.enabled)
        or previous["security"] != instance.security
    )


@receiver(post_save, sender=Api, dispatch_uid="rcms_api.api_revoke_tokens")
def revoke_tokens(sender, instance: Api, raw: bool = False, **kwargs) -> None:
    if raw or not getattr(instance, "_revoke_tokens", False):
        return
    instance._revoke_tokens = False
    tokens.revoke_all(instance)
