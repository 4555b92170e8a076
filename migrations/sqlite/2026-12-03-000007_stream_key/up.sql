-- The key OBS publishes with, made by linkd (one row). legacy_ok is 1 until the first
-- rotation: while it is, the static MEDIAMTX_PUBLISH_USER/PASSWORD pair of an earlier
-- setup is accepted too, so an upgrade does not stop a working publisher.
CREATE TABLE IF NOT EXISTS linkd_stream_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    legacy_ok INTEGER NOT NULL DEFAULT 1
);
