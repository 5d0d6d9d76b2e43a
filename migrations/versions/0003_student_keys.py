"""Per-student data keys for crypto-shredding, and the erasure register.

``student_keys`` holds each student's data key wrapped (AES-GCM) by a master key named by
``master_key_id``; erasing a student sets ``wrapped_key`` to NULL, after which the student's
events stay in the log but can never be decrypted again. ``erasures`` records each erasure
without personal data: the tenant, the aggregate id (a uuid5, not the student id), when and
at whose request.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE public.student_keys ("
        "originator_id uuid PRIMARY KEY, "
        "tenant_id text NOT NULL, "
        "wrapped_key bytea, "
        "master_key_id text, "
        "created_at timestamptz NOT NULL DEFAULT now(), "
        "erased_at timestamptz, "
        "CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL)))"
    )
    op.execute(
        "CREATE TABLE public.erasures ("
        "id bigserial PRIMARY KEY, "
        "tenant_id text NOT NULL, "
        "originator_id uuid NOT NULL, "
        "erased_at timestamptz NOT NULL DEFAULT now(), "
        "requested_by text NOT NULL, "
        "reason text NOT NULL)"
    )
    op.execute("CREATE INDEX erasures_tenant_idx ON public.erasures (tenant_id, erased_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS public.erasures")
    op.execute("DROP TABLE IF EXISTS public.student_keys")
