"""The "External system integration → Stripe" settings form.

Secrets (secret key, webhook secrets) are write-only: the page never renders
them, an empty field keeps the stored value, and a "clear" box removes it.
"""

from __future__ import annotations

import re

from django import forms
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .models import StripeSettings

PUBLISHABLE_KEY_RE = re.compile(r"^pk_(test|live)_[A-Za-z0-9]+$")
SECRET_KEY_RE = re.compile(r"^[sr]k_(test|live)_[A-Za-z0-9]+$")
WEBHOOK_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/=_-]+$")

SECRET_FIELDS = ("secret_key", "webhook_secret", "previous_webhook_secret")
REQUIRED_TO_ENABLE = ("publishable_key", "secret_key", "webhook_secret")


class SecretInput(forms.PasswordInput):
    """A password input that never renders a value, not even a submitted one."""

    def __init__(self, attrs: dict | None = None):
        super().__init__(
            attrs={"autocomplete": "new-password", "size": 60, **(attrs or {})},
            render_value=False,
        )


class PublishableKeyInput(forms.TextInput):
    """Renders only a well-formed publishable key.

    A wrong value sent back for correction could be a secret pasted into the
    wrong field; the page must not show it, so anything else renders empty.
    """

    def format_value(self, value):
        value = super().format_value(value)
        return value if value and PUBLISHABLE_KEY_RE.match(value) else None


class SecretField(forms.CharField):
    """Write-only: an empty submission means "keep what is stored"."""

    widget = SecretInput

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def has_changed(self, initial, data) -> bool:
        # The page never holds the stored value, so only a typed value is a change.
        return bool(data)


@sensitive_variables()
def secret_status(value: str) -> str:
    """What the page may say about a stored secret."""
    return f"Set (…{value[-4:]})." if value else "Not set."


def _mode(key: str) -> str | None:
    if "_live_" in key:
        return "live"
    if "_test_" in key:
        return "test"
    return None


class StripeSettingsForm(forms.ModelForm):
    secret_key = SecretField(label="Secret key")
    webhook_secret = SecretField(label="Webhook signing secret")
    previous_webhook_secret = SecretField(label="Previous webhook signing secret")
    clear_secret_key = forms.BooleanField(label="Clear the secret key", required=False)
    clear_webhook_secret = forms.BooleanField(label="Clear the webhook secret", required=False)
    clear_previous_webhook_secret = forms.BooleanField(
        label="Clear the previous webhook secret", required=False
    )

    class Meta:
        model = StripeSettings
        fields = (
            "enabled",
            "publishable_key",
            "secret_key",
            "webhook_secret",
            "previous_webhook_secret",
            "previous_webhook_secret_expires_at",
        )
        widgets = {"publishable_key": PublishableKeyInput(attrs={"size": 60})}
        labels = {
            "enabled": "Enabled",
            "previous_webhook_secret_expires_at": "Previous secret valid until",
        }
        help_texts = {
            "publishable_key": "pk_test_… or pk_live_…",
            "previous_webhook_secret_expires_at": (
                "While rolling the webhook secret in Stripe, events signed with the "
                "previous secret are accepted until then."
            ),
        }

    @sensitive_variables()
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hints = {
            "secret_key": "sk_test_…, sk_live_…, or a restricted key rk_test_… / rk_live_….",
            "webhook_secret": "whsec_…, from the webhook endpoint in the Stripe dashboard.",
            "previous_webhook_secret": "whsec_…, the secret being rolled away from.",
        }
        for name in SECRET_FIELDS:
            stored = getattr(self.instance, name, "")
            self.fields[name].help_text = (
                f"{secret_status(stored)} {hints[name]} Leave empty to keep the stored value."
            )
            # Never hand the stored secret to the form as its initial value.
            self.initial.pop(name, None)

    @sensitive_variables()
    def clean_publishable_key(self) -> str:
        key = self.cleaned_data.get("publishable_key", "").strip()
        if re.match(r"^(sk_|rk_|whsec_)", key):
            raise forms.ValidationError(
                "This is a secret, not a publishable key: put it in its own field "
                "(the publishable key starts with pk_test_ or pk_live_).",
                code="secret_in_public_field",
            )
        if key and not PUBLISHABLE_KEY_RE.match(key):
            raise forms.ValidationError(
                "A publishable key starts with pk_test_ or pk_live_.", code="prefix"
            )
        return key

    @sensitive_variables()
    def clean_secret_key(self) -> str:
        key = self.cleaned_data.get("secret_key", "")
        if key and not SECRET_KEY_RE.match(key):
            raise forms.ValidationError(
                "A secret key starts with sk_test_ or sk_live_ "
                "(restricted keys: rk_test_ or rk_live_).",
                code="prefix",
            )
        return key

    def clean_webhook_secret(self) -> str:
        return self._clean_webhook_secret("webhook_secret")

    def clean_previous_webhook_secret(self) -> str:
        return self._clean_webhook_secret("previous_webhook_secret")

    @sensitive_variables()
    def _clean_webhook_secret(self, name: str) -> str:
        secret = self.cleaned_data.get(name, "")
        if secret and not WEBHOOK_SECRET_RE.match(secret):
            raise forms.ValidationError(
                "A webhook signing secret starts with whsec_.", code="prefix"
            )
        return secret

    @sensitive_variables()
    def clean(self) -> dict:
        cleaned = super().clean()
        self._resolve_secrets(cleaned)
        self._check_modes(cleaned)
        self._check_enable(cleaned)
        self._check_previous_secret(cleaned)
        return cleaned

    @sensitive_variables()
    def _resolve_secrets(self, cleaned: dict) -> None:
        """Turn "empty" into the stored value, and "clear" into nothing."""
        for name in SECRET_FIELDS:
            if name in self.errors:
                continue
            typed = cleaned.get(name, "")
            clear = cleaned.get(f"clear_{name}", False)
            if typed and clear:
                self.add_error(
                    f"clear_{name}", "Either enter a new value or clear it, not both."
                )
            elif clear:
                cleaned[name] = ""
            elif not typed:
                cleaned[name] = getattr(self.instance, name, "")

    @sensitive_variables()
    def _check_modes(self, cleaned: dict) -> None:
        publishable = cleaned.get("publishable_key") or ""
        secret = cleaned.get("secret_key") or ""
        if not publishable or not secret or {"publishable_key", "secret_key"} & set(self.errors):
            return
        if _mode(publishable) != _mode(secret):
            # Put the error on the key the administrator just typed.
            field = "secret_key" if "secret_key" in self.changed_data else "publishable_key"
            self.add_error(
                field,
                f"The publishable key is a {_mode(publishable)} key but the secret key is a "
                f"{_mode(secret)} key: use keys of the same mode (test or live).",
            )

    @sensitive_variables()
    def _check_enable(self, cleaned: dict) -> None:
        if not cleaned.get("enabled"):
            return
        for name in REQUIRED_TO_ENABLE:
            if name not in self.errors and not cleaned.get(name):
                label = self.fields[name].label
                self.add_error(name, f"{label} is required to enable the Stripe integration.")

    @sensitive_variables()
    def _check_previous_secret(self, cleaned: dict) -> None:
        if "previous_webhook_secret" in self.errors:
            return
        expires_at = cleaned.get("previous_webhook_secret_expires_at")
        if cleaned.get("previous_webhook_secret") and not expires_at:
            self.add_error(
                "previous_webhook_secret_expires_at",
                "Give the date and time until which the previous secret stays valid.",
            )
        elif (cleaned.get("previous_webhook_secret") and expires_at <= timezone.now()
              and {"previous_webhook_secret", "previous_webhook_secret_expires_at"}
              & set(self.changed_data)):
            # It would never be used. Checked as it is entered only: once the time has
            # passed, it must not block other changes (turning payments off, say).
            self.add_error(
                "previous_webhook_secret_expires_at",
                "That time has already passed: give a time to come, or clear the previous "
                "secret.",
            )
