"""The migrated schema is exactly what the eventsourcing library itself would create.

A library upgrade that changes its tables, types, indexes or insert function fails here, so
the alembic migration is updated on purpose rather than drifting.
"""

from __future__ import annotations

import psycopg
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)

from infrastructure.settings import database_parts

LIBRARY_TABLES = ("mastery_events", "mastery_snapshots", "mastery_tracking")

CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, column_default
        FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = ANY(%(tables)s)
        ORDER BY table_name, column_name""",
    "constraints": """
        SELECT rel.relname, con.contype, pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
        WHERE rel.relname = ANY(%(tables)s) ORDER BY 1, 2, 3""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename = ANY(%(tables)s) ORDER BY 1, 2""",
    "storage_options": """
        SELECT relname, reloptions FROM pg_class
        WHERE relname = ANY(%(tables)s) ORDER BY 1""",
    "composite_types": """
        SELECT t.typname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnum
        FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype = 'c' AND t.typname LIKE 'stored_event%%'
        ORDER BY 1, 4""",
    "functions": """
        SELECT p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
               regexp_replace(p.prosrc, '\\s+', ' ', 'g')
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname LIKE 'es_%%' ORDER BY 1""",
}


def _catalog(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            name: [tuple(row) for row in conn.execute(query, {"tables": list(LIBRARY_TABLES)})]
            for name, query in CATALOG_QUERIES.items()
        }


def _library_schema(url: str) -> None:
    parts = database_parts(url)
    datastore = PostgresDatastore(parts.dbname, parts.host, parts.port, parts.user, parts.password)
    try:
        PostgresApplicationRecorder(datastore, events_table_name="mastery_events").create_table()
        PostgresAggregateRecorder(datastore, events_table_name="mastery_snapshots").create_table()
        PostgresTrackingRecorder(datastore, tracking_table_name="mastery_tracking").create_table()
    finally:
        datastore.close()


def test_migrated_schema_is_what_the_library_creates(
    database_url: str, server_database_url: str
) -> None:
    reference = database_url.rsplit("/", 1)[0] + "/" + database_url.rsplit("/", 1)[1] + "_lib"
    admin = server_database_url.rsplit("/", 1)[0] + "/postgres"
    name = reference.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _library_schema(reference)
        migrated, created = _catalog(database_url), _catalog(reference)
        assert migrated["columns"], "the migration created no library tables"
        for part in CATALOG_QUERIES:
            assert migrated[part] == created[part], part
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migration_creates_the_idempotency_ledger(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        keys = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'mastery_event_ids'::regclass AND contype = 'p'"
        ).fetchall()
    assert keys == [("PRIMARY KEY (tenant_id, event_id)",)]
