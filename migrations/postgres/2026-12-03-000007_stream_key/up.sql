-- The key OBS publishes with, made by linkd (one row). legacy_ok is 1 until the first
-- rotation.
CREATE TABLE IF NOT EXISTS linkd_stream_key (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    legacy_ok INTEGER NOT NULL DEFAULT 1
);
