"""The event log keeps each body as sent: PostgreSQL's json, not jsonb (fields.py).

The inbox's enqueue function (0008) then stores the body's text without converting it.
On a big event log the type change rewrites the table once.
"""

from importlib import import_module

from django.db import migrations

import payments.fields

# 0008's function, storing the text as json: the same body, one cast changed.
JSONB_FUNCTION = import_module("payments.migrations.0008_webhook_enqueue_function").CREATE
JSON_FUNCTION = JSONB_FUNCTION.replace("p_payload::jsonb", "p_payload::json")
if JSON_FUNCTION == JSONB_FUNCTION:
    raise RuntimeError("0008's function no longer casts its payload to jsonb")


def store_as_sent(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(JSON_FUNCTION)


def store_as_jsonb(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(JSONB_FUNCTION)


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0009_webhook_queue_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookevent",
            name="payload",
            field=payments.fields.VerbatimJSONField(),
        ),
        migrations.RunPython(store_as_sent, store_as_jsonb, elidable=False),
    ]
