"""The demo's administrator and member (``DEMO_*`` settings) and its member groups."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from members.models import Member, MemberGroup

from .output import SeedOutput


@dataclass(frozen=True)
class Plan:
    group: str
    description: str
    lookup_key: str
    unit_amount: int  # JPY has no minor unit: 1000 is ¥1,000.


PLANS = (
    Plan("Basic members", "Members paying for the Basic plan.", "kuroco_demo_basic", 1000),
    Plan("Premium members", "Members paying for the Premium plan.", "kuroco_demo_premium", 3000),
)


def seed_accounts(out: SeedOutput) -> None:
    ensure_member(
        out, settings.DEMO_ADMIN_EMAIL, settings.DEMO_ADMIN_PASSWORD, "Administrator",
        is_staff=True, is_superuser=True,
    )
    ensure_member(
        out, settings.DEMO_MEMBER_EMAIL, settings.DEMO_MEMBER_PASSWORD, "Demo Member",
        is_staff=False, is_superuser=False,
    )


def ensure_member(out: SeedOutput, email: str, password: str, name: str,
                  **flags: bool) -> Member:
    member = Member.objects.filter(email__iexact=email).first()
    created = member is None
    if member is None:
        member = Member(email=Member.objects.normalize_email(email).lower(), name=name)
    fields = {"is_active": True, **flags}
    for field, value in fields.items():
        setattr(member, field, value)
    # Only re-hash when it differs, so the printed credentials always work.
    if created or not member.check_password(password):
        member.set_password(password)
    member.save()
    role = "Administrator" if flags.get("is_staff") else "Member"
    out.report(f"{role} {member.email}", created)
    return member


def seed_groups(out: SeedOutput) -> dict[str, MemberGroup]:
    """One group per plan, by lookup key; their prices are the Stripe step's business."""
    groups = {}
    for plan in PLANS:
        group, created = MemberGroup.objects.get_or_create(
            name=plan.group, defaults={"description": plan.description}
        )
        groups[plan.lookup_key] = group
        out.report(f"Group {group.name!r}", created)
    return groups
