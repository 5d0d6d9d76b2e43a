"""Whether an event store is encrypted, asked before a command that lacks the master key reads
or writes it: without the key, the answer is a clear refusal instead of a decryption error."""

from __future__ import annotations

import psycopg


def holds_data_keys(database_url: str) -> bool:
    """Whether any student's data key is stored (``student_keys``, see ``keys``): the store's
    events are then encrypted, and reading or adding to them needs the master key."""
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        try:
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM student_keys)").fetchone()
        except psycopg.errors.UndefinedTable:
            return False  # not migrated yet: nothing is encrypted
    return bool(row and row[0])
