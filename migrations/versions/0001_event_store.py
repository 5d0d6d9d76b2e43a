"""Event store: the eventsourcing library's tables, frozen as DDL, and the idempotency ledger.

The library's DDL is copied verbatim from what eventsourcing 9.5 creates for an application
named "Mastery" (events table ``mastery_events``, snapshots table ``mastery_snapshots``);
``tests/integration/test_schema.py`` compares the migrated schema with the library's own, so a
library upgrade that changes it fails the suite instead of drifting silently.

``mastery_event_ids`` maps (tenant, event_id) to the content hash and the stored event it became.
It is written in the same transaction as the events (see infrastructure/event_store/recorder.py).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIBRARY_TABLE_OPTIONS = (
    "WITH ("
    "    autovacuum_enabled = true,"
    "    autovacuum_vacuum_threshold = 100000000,"
    "    autovacuum_vacuum_scale_factor = 0.5,"
    "    autovacuum_analyze_threshold = 1000,"
    "    autovacuum_analyze_scale_factor = 0.01"
    ")"
)


def upgrade() -> None:
    op.execute(
        "CREATE TABLE public.mastery_events ("
        "originator_id uuid NOT NULL, "
        "originator_version bigint NOT NULL, "
        "topic text, "
        "state bytea, "
        "notification_id bigserial, "
        "PRIMARY KEY (originator_id, originator_version)) " + LIBRARY_TABLE_OPTIONS
    )
    op.execute(
        "CREATE TYPE public.stored_event_uuid AS ("
        "originator_id uuid, originator_version bigint, topic text, state bytea)"
    )
    op.execute(
        "CREATE UNIQUE INDEX mastery_events_notification_id_idx "
        "ON public.mastery_events (notification_id ASC)"
    )
    op.execute(
        'CREATE OR REPLACE FUNCTION "public"."es_insert_events_uuid"'
        '(events "public"."stored_event_uuid"[]) '
        "RETURNS SETOF bigint LANGUAGE plpgsql AS "
        "$BODY$BEGIN    SET LOCAL lock_timeout = '0s';    NOTIFY \"mastery_events\";"
        '    RETURN QUERY    INSERT INTO "public"."mastery_events" AS t ('
        "    originator_id, originator_version, topic, state)"
        "    SELECT originator_id, originator_version, topic, state"
        "    FROM unnest(events)    RETURNING notification_id;END;$BODY$"
    )
    op.execute(
        "CREATE TABLE public.mastery_snapshots ("
        "originator_id uuid NOT NULL, "
        "originator_version bigint NOT NULL, "
        "topic text, "
        "state bytea, "
        "PRIMARY KEY (originator_id, originator_version)) " + LIBRARY_TABLE_OPTIONS
    )
    op.execute(
        "CREATE TABLE public.mastery_event_ids ("
        "tenant_id text NOT NULL, "
        "event_id text NOT NULL, "
        "content_hash bytea NOT NULL, "
        "originator_id uuid NOT NULL, "
        "originator_version bigint NOT NULL, "
        "PRIMARY KEY (tenant_id, event_id))"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS public.mastery_event_ids")
    op.execute("DROP TABLE IF EXISTS public.mastery_snapshots")
    op.execute('DROP FUNCTION IF EXISTS "public"."es_insert_events_uuid"')
    op.execute("DROP TABLE IF EXISTS public.mastery_events")
    op.execute("DROP TYPE IF EXISTS public.stored_event_uuid")
