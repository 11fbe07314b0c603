from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rcms_api", "0004_api_labels"),
    ]

    operations = [
        # Null for tokens issued before families existed: they expire on their own.
        migrations.AddField(
            model_name="apitoken",
            name="family",
            field=models.UUIDField(blank=True, db_index=True, editable=False, null=True),
        ),
    ]
