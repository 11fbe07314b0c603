"""The webhook inbox's enqueue as a server-side function, for services/inbox.py (PostgreSQL).

A duplicate then runs only a read (an INSERT opens every index even when it inserts
nothing), and the plans are cached per connection.
"""

from django.db import migrations

CREATE = """
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
    VALUES (p_event_id, p_type, p_created, p_livemode, p_payload::jsonb, p_status, '',
            p_note, 1, p_now, p_processed_at)
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
DROP = ("DROP FUNCTION IF EXISTS kuroco_webhook_enqueue(text, text, timestamptz, boolean, "
        "text, text, text, timestamptz, timestamptz, timestamptz)")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):

    dependencies = [("payments", "0007_webhook_inbox")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
