"""Stripe IDs unique by constraints (no LIKE index), memberships found by member through
unique_membership: indexes a drain would write and nothing reads (docs/performance.md)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('members', '0002_membergroup_price_details'),
    ]

    operations = [
        migrations.AlterField(
            model_name='member',
            name='stripe_customer_id',
            field=models.CharField(blank=True, max_length=255, null=True, verbose_name='Stripe customer ID'),
        ),
        migrations.AlterField(
            model_name='member',
            name='stripe_subscription_id',
            field=models.CharField(blank=True, max_length=255, null=True, verbose_name='Stripe subscription ID'),
        ),
        migrations.AlterField(
            model_name='membership',
            name='member',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='member',
            constraint=models.UniqueConstraint(fields=('stripe_customer_id',), name='member_unique_stripe_customer'),
        ),
        migrations.AddConstraint(
            model_name='member',
            constraint=models.UniqueConstraint(fields=('stripe_subscription_id',), name='member_unique_stripe_subscription'),
        ),
    ]
