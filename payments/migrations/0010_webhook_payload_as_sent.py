"""The event log keeps each body as sent: PostgreSQL's json, not jsonb (fields.py).

The inbox's enqueue function (0008) then stores the body's text without converting it.
On a big event log the type change rewrites the table once.
"""

from django.db import migrations

import payments.fields

FUNCTION = """
CREATE OR REPLACE FUNCTION kuroco_webhook_enqueue(
    p_event_id text, p_type text, p_created timestamptz, p_livemode boolean,
    p_payload text, p_status text, p_note text, p_now timestamptz,
    p_processed_at timestamptz, p_version timestamptz,
    OUT stored boolean, OUT settings_version timestamptz, OUT stored_status text)
LANGUAGE plpgsql AS $$
BEGIN
    stored := false;
    SELECT status INTO stored_status FROM payments_webhookevent WHERE event_id = p_event_id;
    SELECT updated_at INTO settings_version FROM payments_stripesettings WHERE id = 1;
    -- Stored before, or settings saved since the delivery was verified: the caller decides.
    IF stored_status IS NOT NULL OR settings_version IS DISTINCT FROM p_version THEN
        RETURN;
    END IF;
    INSERT INTO payments_webhookevent (event_id, type, created, livemode, payload, status,
                                       error, note, attempts, received_at, processed_at)
    VALUES (p_event_id, p_type, p_created, p_livemode, p_payload::{payload_type}, p_status,
            '', p_note, 1, p_now, p_processed_at)
    ON CONFLICT (event_id) DO NOTHING;
    IF FOUND THEN
        stored := true;
        PERFORM pg_notify('kuroco_webhook_inbox', '');  -- drain_webhooks listens
    ELSE
        -- Another delivery stored it a moment ago (this statement sees its commit).
        SELECT status INTO stored_status FROM payments_webhookevent
        WHERE event_id = p_event_id;
    END IF;
END $$;
"""


def store_as_sent(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION.replace("{payload_type}", "json"))


def store_as_jsonb(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION.replace("{payload_type}", "jsonb"))


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
