"""Which groups a subscription gives a member: grant, revoke, and grants that outlive others.

On PostgreSQL each grant or revoke is one statement (data-modifying CTEs), so
an event costs the same whatever the number of groups; elsewhere the ORM does
the same in a few statements.
"""

from __future__ import annotations

import json

from django.db import connection
from django.utils import timezone

from members.models import Member, MemberGroup, Membership

from ..models import SubscriptionState

GRANTING_STATUSES = frozenset({"active", "trialing", "past_due"})

_TABLES = {
    "state": SubscriptionState._meta.db_table,
    "membership": Membership._meta.db_table,
    "group": MemberGroup._meta.db_table,
    "member": Member._meta.db_table,
}

# Wanted groups are added (or re-tagged to this subscription if Stripe-given),
# Stripe-given groups not wanted go, the member holds the subscription; an
# administrator's row is never touched.
_GRANT_SQL = """
WITH wanted AS (
    SELECT id, name FROM {group} WHERE stripe_price_id = ANY(%(prices)s)
), gone AS (
    DELETE FROM {membership}
    WHERE member_id = %(member)s AND source = 'stripe'
      AND group_id NOT IN (SELECT id FROM wanted)
    RETURNING group_id
), added AS (
    INSERT INTO {membership} (member_id, group_id, source, stripe_subscription_id, created_at)
    SELECT %(member)s, id, 'stripe', %(sub)s, %(now)s FROM wanted
    ON CONFLICT (member_id, group_id) DO UPDATE
        SET stripe_subscription_id = EXCLUDED.stripe_subscription_id
        WHERE {membership}.source = 'stripe'
          AND {membership}.stripe_subscription_id <> EXCLUDED.stripe_subscription_id
    RETURNING group_id, xmax = 0 AS inserted
), held AS (
    UPDATE {member} SET stripe_subscription_id = %(sub)s
    WHERE id = %(member)s AND stripe_subscription_id IS DISTINCT FROM %(sub)s
    RETURNING id
)
SELECT 0, wanted.name FROM added JOIN wanted ON wanted.id = added.group_id WHERE added.inserted
UNION ALL
SELECT 1, g.name FROM gone JOIN {group} g ON g.id = gone.group_id
UNION ALL
SELECT 2, '' FROM held
""".format(**_TABLES)  # noqa: S608 (table names from the models)

_REVOKE_SQL = """
WITH gone AS (
    DELETE FROM {membership}
    WHERE member_id = %(member)s AND source = 'stripe'
      AND (stripe_subscription_id = %(sub)s OR %(held)s)
    RETURNING group_id
), cleared AS (
    UPDATE {member} SET stripe_subscription_id = NULL
    WHERE id = %(member)s AND stripe_subscription_id = %(sub)s
    RETURNING id
), other AS (
    SELECT subscription_id, price_ids FROM {state}
    WHERE %(find_other)s AND member_id = %(member)s AND NOT deleted
      AND status = ANY(%(granting)s) AND subscription_id <> %(sub)s
    ORDER BY last_event_created DESC, id DESC LIMIT 1 FOR UPDATE
)
SELECT 1, g.name, NULL::jsonb FROM gone JOIN {group} g ON g.id = gone.group_id
UNION ALL
SELECT 2, '', NULL FROM cleared
UNION ALL
SELECT 3, subscription_id, price_ids FROM other
""".format(**_TABLES)  # noqa: S608 (table names from the models)


def _one_statement() -> bool:
    return connection.vendor == "postgresql"


def grant(member: Member, subscription_id: str, price_ids: list[str]) -> list[str]:
    """Put the member in exactly the groups of ``price_ids``, held as ``subscription_id``."""
    previous = member.stripe_subscription_id
    if _one_statement():
        with connection.cursor() as cursor:
            cursor.execute(_GRANT_SQL, {"prices": list(price_ids), "member": member.pk,
                                        "sub": subscription_id, "now": timezone.now()})
            rows = sorted(cursor.fetchall())
        changes = [f"{'added to' if kind == 0 else 'removed from'} group {name}"
                   for kind, name in rows if kind < 2]
        member.stripe_subscription_id = subscription_id
    else:
        changes = _grant_orm(member, subscription_id, price_ids)
    if previous != subscription_id:
        changes.append(f"subscription ID {previous or 'none'} → {subscription_id}")
    return changes


def _grant_orm(member: Member, subscription_id: str, price_ids: list[str]) -> list[str]:
    changes: list[str] = []
    wanted = {g.pk: g for g in MemberGroup.objects.filter(stripe_price_id__in=price_ids)}
    current = {m.group_id: m for m in member.memberships.select_related("group")}
    new = [
        Membership(member=member, group=group, source=Membership.Source.STRIPE,
                   stripe_subscription_id=subscription_id)
        for group_id, group in wanted.items() if group_id not in current
    ]
    retag = [
        m.pk for group_id, m in current.items()
        if group_id in wanted and m.source == Membership.Source.STRIPE
        and m.stripe_subscription_id != subscription_id
    ]
    gone = [m for group_id, m in current.items()
            if group_id not in wanted and m.source == Membership.Source.STRIPE]
    if new:
        Membership.objects.bulk_create(new)
        changes += [f"added to group {m.group.name}" for m in new]
    if retag:
        Membership.objects.filter(pk__in=retag).update(stripe_subscription_id=subscription_id)
    if gone:
        Membership.objects.filter(pk__in=[m.pk for m in gone]).delete()
        changes += [f"removed from group {m.group.name}" for m in gone]
    if member.stripe_subscription_id != subscription_id:
        member.stripe_subscription_id = subscription_id
        member.save(update_fields=["stripe_subscription_id"])
    return changes


def revoke(member: Member, subscription_id: str) -> list[str]:
    """Remove what this subscription granted; clear the member's ID if it is this one."""
    changes, _ = _revoke(member, subscription_id, find_other=False)
    return changes


def end_held(member: Member, ended: str) -> tuple[list[str], list[str]]:
    """The held subscription ended: revoke it, and grant the member's other live one now,
    not at its next event. Returns the revoke's changes and the other grant's (none
    when there is no other); on PostgreSQL the revoke also finds the other, locked.
    """
    if not _one_statement():
        return revoke(member, ended), grant_other_live(member, ended)
    changes, other = _revoke(member, ended, find_other=True)
    if other is None:
        return changes, []
    subscription_id, price_ids = other
    return changes, [f"granted the member's other live subscription {subscription_id}",
                     *grant(member, subscription_id, price_ids)]


def _revoke(member: Member, subscription_id: str, *, find_other: bool
            ) -> tuple[list[str], tuple[str, list[str]] | None]:
    held = member.stripe_subscription_id == subscription_id
    other = None
    if _one_statement():
        with connection.cursor() as cursor:
            cursor.execute(_REVOKE_SQL, {"member": member.pk, "sub": subscription_id,
                                         "held": held, "find_other": find_other,
                                         "granting": sorted(GRANTING_STATUSES)})
            rows = sorted(cursor.fetchall(), key=lambda row: row[:2])
        changes = [f"removed from group {name}" for kind, name, _ in rows if kind == 1]
        found = [(value, prices) for kind, value, prices in rows if kind == 3]
        if found:
            other_id, prices = found[0]
            other = (other_id, list((json.loads(prices) if isinstance(prices, str)
                                     else prices) or []))
    else:
        changes = _revoke_orm(member, subscription_id, held)
    if held:
        member.stripe_subscription_id = None
        changes.append(f"subscription ID {subscription_id} cleared")
    return changes, other


def _revoke_orm(member: Member, subscription_id: str, held: bool) -> list[str]:
    granted = member.memberships.filter(source=Membership.Source.STRIPE)
    if not held:
        granted = granted.filter(stripe_subscription_id=subscription_id)
    names = list(granted.values_list("group__name", flat=True))
    if names:
        Membership.objects.filter(pk__in=granted.values("pk")).delete()
    if held:
        Member.objects.filter(pk=member.pk).update(stripe_subscription_id=None)
    return [f"removed from group {name}" for name in names]


def other_live_subscription(member: Member, ended: str) -> SubscriptionState | None:
    """The member's newest other subscription still granting, by the stored states; locked."""
    return (
        SubscriptionState.objects.select_for_update()
        .filter(member=member, deleted=False, status__in=GRANTING_STATUSES)
        .exclude(subscription_id=ended)
        .order_by("-last_event_created", "-pk")
        .first()
    )


def grant_other_live(member: Member, ended: str) -> list[str]:
    """The held subscription ended: grant the member's other live one now, not at its next event."""
    other = other_live_subscription(member, ended)
    if other is None:
        return []
    changes = grant(member, other.subscription_id, list(other.price_ids or []))
    return [f"granted the member's other live subscription {other.subscription_id}", *changes]


def keep_paid_group(membership: Membership) -> Membership | None:
    """An administrator removed a group they gave: if the member pays for it, it stays.

    The member keeps the group as a Stripe grant of the subscription they hold,
    when that subscription is live (by its stored state) and sells the group's price.
    """
    if membership.source != Membership.Source.ADMIN:
        return None
    held = (Member.objects.filter(pk=membership.member_id)
            .values_list("stripe_subscription_id", flat=True).first())
    price_id = (MemberGroup.objects.filter(pk=membership.group_id)
                .values_list("stripe_price_id", flat=True).first())
    if not held or not price_id:
        return None
    state = SubscriptionState.objects.filter(subscription_id=held, deleted=False,
                                             status__in=GRANTING_STATUSES).first()
    if state is None or price_id not in (state.price_ids or []):
        return None
    restored, _ = Membership.objects.get_or_create(
        member_id=membership.member_id, group_id=membership.group_id,
        defaults={"source": Membership.Source.STRIPE, "stripe_subscription_id": held},
    )
    return restored
