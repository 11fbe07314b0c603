"""Members, their groups, and how each membership came to be."""

from __future__ import annotations

from functools import cache

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import DEFAULT_DB_ALIAS, connection, models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from kuroco_billing.rows import columns, from_row

stripe_price_id_validator = RegexValidator(
    r"^price_[A-Za-z0-9]+$", "Enter a Stripe price ID of the form price_…"
)


@cache
def _by_pk_sql(model) -> str:
    return ('SELECT {columns} FROM "{table}" m WHERE m."{pk}" = %s'.format(  # noqa: S608 (names from the model)
            columns=columns(model, "m"), table=model._meta.db_table,
            pk=model._meta.pk.column))


class MemberManager(BaseUserManager["Member"]):
    use_in_migrations = True

    @sensitive_variables()
    def _create(self, email: str, password: str | None, **fields) -> Member:
        if not email:
            raise ValueError("A member needs an email address.")
        member = self.model(email=self.normalize_email(email).lower(), **fields)
        member.set_password(password)
        member.save(using=self._db)
        return member

    @sensitive_variables()
    def create_user(self, email: str, password: str | None = None, **fields) -> Member:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    @sensitive_variables()
    def create_superuser(self, email: str, password: str | None = None, **fields) -> Member:
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)

    def get(self, *args, **kwargs) -> Member:
        """``get(pk=…)`` by SQL written once; any other lookup through the ORM.

        Every signed-in request loads its member this way (Django's
        ``ModelBackend.get_user``), and compiling the ORM's query was a sixth of
        such a request's time. Same answer, same ``DoesNotExist``.
        """
        if args or set(kwargs) != {"pk"} or self._db not in (None, DEFAULT_DB_ALIAS):
            return super().get(*args, **kwargs)
        try:
            pk = self.model._meta.pk.to_python(kwargs["pk"])
        except ValidationError:
            return super().get(*args, **kwargs)  # the ORM's own error for a bad key
        with connection.cursor() as cursor:
            cursor.execute(_by_pk_sql(self.model), [pk])
            row = cursor.fetchone()
        if row is None:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} matching query "
                                          "does not exist.")
        return from_row(self.model, row)

    def get_by_natural_key(self, username: str | None) -> Member:
        # Sign-in is case-insensitive on the email.
        return self.get(email__iexact=username)


class Member(AbstractBaseUser, PermissionsMixin):
    """A person who signs in by email. Administrators are members with staff rights."""

    email = models.EmailField("email address", unique=True)
    name = models.CharField("display name", max_length=150, blank=True)
    is_active = models.BooleanField("active", default=True)
    is_staff = models.BooleanField(
        "staff status", default=False, help_text="Can sign in to this admin site."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # Optional, but unique when set: NULL (not "") marks "none". Unique by the
    # constraints below: a plain unique index each, no second one for LIKE, which
    # every drain's update of a member would write and nothing reads.
    stripe_customer_id = models.CharField(  # noqa: DJ001 (NULL: many members have none)
        "Stripe customer ID", max_length=255, null=True, blank=True
    )
    stripe_subscription_id = models.CharField(  # noqa: DJ001 (as above)
        "Stripe subscription ID", max_length=255, null=True, blank=True
    )
    member_groups = models.ManyToManyField(
        "MemberGroup",
        through="Membership",
        related_name="members",
        blank=True,
        verbose_name="member groups",
    )

    objects = MemberManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "member"
        verbose_name_plural = "members"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["stripe_customer_id"],
                                    name="member_unique_stripe_customer"),
            models.UniqueConstraint(fields=["stripe_subscription_id"],
                                    name="member_unique_stripe_subscription"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email


class PriceInterval(models.TextChoices):
    DAY = "day", "day"
    WEEK = "week", "week"
    MONTH = "month", "month"
    YEAR = "year", "year"


PRICE_DETAIL_FIELDS = (
    "price_product_name", "price_unit_amount", "price_currency", "price_interval",
    "price_interval_count", "price_checked_at",
)


class MemberGroup(models.Model):
    """A group of members; one carrying a Stripe price is granted by paying for it."""

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    stripe_price_id = models.CharField(
        "Stripe price ID",
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        validators=[stripe_price_id_validator],
        help_text="Members paying for this recurring price join the group.",
    )
    # What Stripe said about the price when it was last checked (the admin's price
    # check, the setup check): shown in the admin and answered by the plan operations
    # without asking Stripe again.
    price_product_name = models.CharField("product", max_length=255, blank=True)
    price_unit_amount = models.PositiveBigIntegerField(
        "amount", null=True, blank=True,
        help_text="In the currency's smallest unit (cents; yen), as Stripe gives it.")
    price_currency = models.CharField("currency", max_length=3, blank=True)
    price_interval = models.CharField(
        "billing interval", max_length=5, blank=True, choices=PriceInterval.choices)
    price_interval_count = models.PositiveSmallIntegerField(
        "intervals per period", null=True, blank=True)
    price_checked_at = models.DateTimeField("price checked at", null=True, blank=True)

    class Meta:
        verbose_name = "member group"
        verbose_name_plural = "member groups"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.stripe_price_id = self.stripe_price_id or None
        super().save(*args, **kwargs)

    def set_price_details(self, details: dict | None) -> None:
        """Store what Stripe said about the price (see ``payments.prices.price_details``)."""
        details = details or {}
        for name in PRICE_DETAIL_FIELDS:
            default = "" if name in ("price_product_name", "price_currency",
                                     "price_interval") else None
            setattr(self, name, details.get(name, default))


class Membership(models.Model):
    """A member in a group, with how they got there.

    Stripe events only ever remove memberships whose source is Stripe; a group
    an administrator gave by hand stays.
    """

    class Source(models.TextChoices):
        ADMIN = "admin", "By an administrator"
        STRIPE = "stripe", "By a Stripe subscription"

    # Found by member through unique_membership, whose first column it is: an index of
    # its own would only be written (a drain adds and removes memberships in bulk).
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="memberships",
                               db_index=False)
    group = models.ForeignKey(MemberGroup, on_delete=models.CASCADE, related_name="memberships")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ADMIN)
    stripe_subscription_id = models.CharField(
        "granted by subscription", max_length=255, blank=True, default=""
    )
    created_at = models.DateTimeField("joined at", default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "group"], name="unique_membership"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.member} in {self.group}"

    @property
    def reason(self) -> str:
        """Why the member is in the group, for the member editor."""
        if self.source == self.Source.STRIPE and self.stripe_subscription_id:
            return f"{self.get_source_display()} ({self.stripe_subscription_id})"
        return self.get_source_display()
