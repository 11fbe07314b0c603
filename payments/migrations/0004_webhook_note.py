from django.db import migrations, models
from django.db.models import F, Value


def notes_out_of_error(apps, schema_editor):
    """``error`` held success notes too: move those of non-failed events to ``note``."""
    WebhookEvent = apps.get_model("payments", "WebhookEvent")
    WebhookEvent.objects.exclude(status="failed").update(note=F("error"), error=Value(""))


def notes_back_into_error(apps, schema_editor):
    WebhookEvent = apps.get_model("payments", "WebhookEvent")
    WebhookEvent.objects.exclude(status="failed").update(error=F("note"))


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0003_checkout_intent"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookevent",
            name="note",
            field=models.TextField(blank=True),
        ),
        migrations.AlterField(
            model_name="webhookevent",
            name="error",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(notes_out_of_error, notes_back_into_error),
    ]
