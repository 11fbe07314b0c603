from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0005_subscription_schedule"),
    ]

    operations = [
        migrations.CreateModel(
            name="SetupCheckResult",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("item", models.CharField(max_length=255, unique=True)),
                ("position", models.PositiveIntegerField(default=0)),
                ("level", models.CharField(choices=[("success", "OK"), ("warning", "Warning"),
                                                    ("error", "Problem")], max_length=16)),
                ("message", models.TextField()),
                ("checked_at", models.DateTimeField()),
            ],
            options={"verbose_name": "setup check result", "ordering": ["position", "item"]},
        ),
        migrations.CreateModel(
            name="RefusedDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("minute", models.DateTimeField(verbose_name="minute (start)")),
                ("reason", models.CharField(max_length=200)),
                ("client_address", models.CharField(max_length=64)),
                ("count", models.PositiveIntegerField(default=1, verbose_name="deliveries")),
                ("first_at", models.DateTimeField(verbose_name="first")),
                ("last_at", models.DateTimeField(verbose_name="last")),
                ("event_id", models.CharField(blank=True, max_length=255,
                                              verbose_name="event ID")),
            ],
            options={
                "verbose_name": "refused webhook delivery",
                "verbose_name_plural": "refused webhook deliveries",
                "ordering": ["-minute", "-last_at"],
                "constraints": [models.UniqueConstraint(
                    fields=("minute", "reason", "client_address"),
                    name="refused_delivery_per_minute")],
            },
        ),
    ]
