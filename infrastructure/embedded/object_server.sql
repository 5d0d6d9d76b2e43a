-- The embedded object store's one table (infrastructure/embedded_objects.py), in a database of
-- its own on the embedded PostgreSQL: the embedded broker's topics, offsets and record batches.
-- Not an alembic migration: it belongs to the embedded broker, not to the event store.
CREATE TABLE IF NOT EXISTS objects (
    key      text PRIMARY KEY COLLATE "C",
    body     bytea NOT NULL,
    etag     text NOT NULL,
    modified timestamptz NOT NULL DEFAULT now()
);
