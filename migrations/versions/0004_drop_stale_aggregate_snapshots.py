"""Delete every aggregate snapshot: they hold a mastery ledger state the code no longer reads.

SPEC §4's topic rule counts activity markers as evidence of their topic, and topics carry event
counts per component (SPEC §5). Ledger states written before (state version 1) leave
marker-only topics out and keep no topic counts, so they cannot be upgraded in place: what they
dropped is only in the events. ``MasteryLedger.from_state`` refuses them rather than answer
wrongly, so a stored one would make its student's aggregate unreadable.

Snapshots are a cache: an aggregate without one is rebuilt from its events, and the next
snapshot interval writes a new one. Deleting them all is safe at any time; the first load of
each student reads their whole history once. The schema is unchanged.

Downgrading deletes them all again, for the same reason the other way round: the older code
refuses the state version written since.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM public.mastery_snapshots")


def downgrade() -> None:
    op.execute("DELETE FROM public.mastery_snapshots")
