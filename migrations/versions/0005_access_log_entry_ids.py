"""Give every access-log entry an id of its own, so a retried write cannot log a read twice.

The access-log writer retries a batch whose write failed. When the failure struck after the
commit (the connection dropped before the answer arrived), the retry wrote the same entries a
second time: the log then claimed reads that never happened. Each entry now carries a UUID made
when the read is logged, and the writer inserts with ``ON CONFLICT (entry_id) DO NOTHING``.
Rows written before this migration keep a NULL id (a unique index allows any number of NULLs).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE public.access_log ADD COLUMN entry_id uuid")
    op.execute("CREATE UNIQUE INDEX access_log_entry_id_idx ON public.access_log (entry_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS public.access_log_entry_id_idx")
    op.execute("ALTER TABLE public.access_log DROP COLUMN IF EXISTS entry_id")
