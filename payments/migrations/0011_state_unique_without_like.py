"""A subscription state unique by a constraint: no LIKE index beside it (docs/performance.md)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0010_webhook_payload_as_sent'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='subscriptionstate',
            name='subscription_id',
            field=models.CharField(max_length=255),
        ),
        migrations.AddConstraint(
            model_name='subscriptionstate',
            constraint=models.UniqueConstraint(fields=('subscription_id',), name='subscription_state_unique_id'),
        ),
    ]
