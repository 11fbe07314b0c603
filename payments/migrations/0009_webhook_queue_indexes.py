"""The inbox's queue and its failed events, each by its own partial index (services/inbox.py)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0008_webhook_enqueue_function'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='webhookevent',
            index=models.Index(condition=models.Q(('status', 'received')), fields=['id'], name='webhook_event_received'),
        ),
        migrations.AddIndex(
            model_name='webhookevent',
            index=models.Index(condition=models.Q(('status', 'failed')), fields=['id'], name='webhook_event_failed'),
        ),
        migrations.RemoveIndex(
            model_name='webhookevent',
            name='webhook_event_pending',
        ),
    ]
