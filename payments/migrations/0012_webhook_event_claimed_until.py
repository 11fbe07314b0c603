"""An event left to the one-event path is claimed until then: other drains leave it (services/inbox.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0011_state_unique_without_like'),
    ]

    operations = [
        migrations.AddField(
            model_name='webhookevent',
            name='claimed_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
