"""Admin forms for members, their memberships and member groups."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from payments.setup_checks import apply_verdict, validate_group_price

from . import lockouts
from .models import Member, MemberGroup, Membership, stripe_price_id_validator


class AdminSignInForm(AdminAuthenticationForm):
    """The admin's sign-in, one at a time per account and client address, as the
    API's (lockouts.one_sign_in_at_a_time): guesses sent at once meet the lockout."""

    def clean(self):
        refused = None
        with lockouts.one_sign_in_at_a_time(self.request, self.cleaned_data.get("username")):
            try:
                return super().clean()
            except ValidationError as error:
                refused = error  # raised after the block: its failure stays recorded
        raise refused


class MemberCreationForm(BaseUserCreationForm):
    """Email and the password twice: a member has no username."""

    class Meta:
        model = Member
        fields = ("email", "name")


class MemberChangeForm(UserChangeForm):
    """The member editor; the password is shown as its hash summary only."""

    class Meta:
        model = Member
        fields = "__all__"


class MembershipInlineForm(forms.ModelForm):
    """One row of the member's groups.

    Rows a Stripe subscription granted are kept as they are (the webhook owns
    them); a row an administrator adds is always of source "admin".
    """

    class Meta:
        model = Membership
        fields = ("group",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_granted_by_stripe and "group" in self.fields:
            self.fields["group"].disabled = True

    @property
    def is_granted_by_stripe(self) -> bool:
        return bool(self.instance.pk) and self.instance.source == Membership.Source.STRIPE

    def save(self, commit: bool = True) -> Membership:
        if not self.instance.pk:
            self.instance.source = Membership.Source.ADMIN
        return super().save(commit=commit)


class MemberGroupForm(forms.ModelForm):
    """A member group; its Stripe price is checked against Stripe when it changes.

    The admin only includes ``stripe_price_id`` while the Stripe integration
    is enabled, so the check below only ever runs then. The admin asks Stripe
    before its transaction opens and hands the verdicts in ``price_verdicts``.
    """

    # {price ID: payments.setup_checks.PriceVerdict}, filled in by the admin.
    price_verdicts: dict = {}

    class Meta:
        model = MemberGroup
        fields = ("name", "description", "stripe_price_id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Shown to the administrator after saving, e.g. "Stripe could not be reached".
        self.stripe_warning: str | None = None
        # What Stripe said about a newly set price (product, amount, interval).
        self.price_details: dict | None = None

    def clean_stripe_price_id(self) -> str | None:
        price_id = self.cleaned_data.get("stripe_price_id") or None
        if not price_id or "stripe_price_id" not in self.changed_data:
            return price_id
        stripe_price_id_validator(price_id)
        taken = MemberGroup.objects.filter(stripe_price_id=price_id).exclude(pk=self.instance.pk)
        if taken.exists():
            # The model's unique check reports it; no need to ask Stripe.
            return price_id
        if stripe_enabled():
            verdict = self.price_verdicts.get(price_id)
            self.stripe_warning = _validate_price_with_stripe(price_id, verdict)
            self.price_details = getattr(verdict, "details", None)
        return price_id

    def save(self, commit: bool = True) -> MemberGroup:
        if "stripe_price_id" in self.changed_data:
            # A new price's details, or none: never the old price's.
            self.instance.set_price_details(self.price_details)
        return super().save(commit=commit)


def stripe_enabled() -> bool:
    """Whether the Stripe integration is switched on (External system integration)."""
    from payments.models import StripeSettings

    return StripeSettings.load().enabled


def _validate_price_with_stripe(price_id: str, verdict=None) -> str | None:
    """Stripe's verdict on a price: raises ValidationError, or returns a warning."""
    try:
        if verdict is not None:
            return apply_verdict(verdict)
        return validate_group_price(price_id)
    except ValidationError:
        raise
    except Exception:  # Stripe trouble must never stop the admin with a 500.
        return "The price could not be checked with Stripe; check it in the Stripe dashboard."
