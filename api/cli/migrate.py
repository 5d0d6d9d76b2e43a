from __future__ import annotations

from api.cli.common import console, reported_errors
from infrastructure.settings import Settings, redacted


def migrate() -> None:
    """Bring the database schema to the latest revision (alembic upgrade head)."""
    from infrastructure.migrate import upgrade  # noqa: PLC0415 - alembic is slow to import

    with reported_errors():
        settings = Settings.from_env()
        url = settings.require_database_url()
        upgrade(url)
    console.print(f"schema up to date on {redacted(url)}")
