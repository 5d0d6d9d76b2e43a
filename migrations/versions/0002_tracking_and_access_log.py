"""Tracking positions of notification-log followers, and the append-only access log.

``mastery_tracking`` has the shape of the eventsourcing library's PostgreSQL tracking table
(compared with the library's own DDL in tests/integration/test_schema.py). Redis projectors
keep their positions in Redis with their views; this table serves followers whose output is
not Redis (the mastery.results publisher).

``access_log`` records every read of a student's data (SPEC §7): who, role, tenant, student,
route, outcome, request id, time. Rows are only ever inserted (and purged by retention).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
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
        "CREATE TABLE public.mastery_tracking ("
        "application_name text, "
        "notification_id bigint, "
        "PRIMARY KEY (application_name))" + LIBRARY_TABLE_OPTIONS
    )
    op.execute(
        "CREATE TABLE public.access_log ("
        "id bigserial PRIMARY KEY, "
        "at timestamptz NOT NULL, "
        "request_id text NOT NULL, "
        "subject text NOT NULL, "
        "role text NOT NULL, "
        "tenant_id text NOT NULL, "
        "student_id text, "
        "class_id text, "
        "route text NOT NULL, "
        "action text NOT NULL, "
        "outcome text NOT NULL, "
        "status integer NOT NULL)"
    )
    op.execute(
        "CREATE INDEX access_log_student_idx ON public.access_log (tenant_id, student_id, at)"
    )
    op.execute("CREATE INDEX access_log_at_idx ON public.access_log (at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS public.access_log")
    op.execute("DROP TABLE IF EXISTS public.mastery_tracking")
