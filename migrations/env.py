"""Alembic environment: migrations run online against MASTERY_DATABASE_URL.

`mastery migrate` passes the URL in the config attributes; plain `alembic upgrade head` reads
the environment variable.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from infrastructure.settings import sqlalchemy_url


def _database_url() -> str:
    url = context.config.attributes.get("database_url") or os.environ.get("MASTERY_DATABASE_URL")
    if not url:
        raise RuntimeError("MASTERY_DATABASE_URL is not set")
    return sqlalchemy_url(str(url))


def run_migrations_online() -> None:
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run against a database")
run_migrations_online()
