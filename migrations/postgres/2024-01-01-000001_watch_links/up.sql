-- The links table with the Go service's columns (PostgreSQL types: ids and Unix seconds
-- are BIGINT, `enabled` stays an INTEGER 1/0 so both backends read the same rows).
CREATE TABLE IF NOT EXISTS watch_links (
    id BIGSERIAL PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    disabled_at BIGINT,
    note TEXT NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS idx_watch_links_token ON watch_links(token);
CREATE INDEX IF NOT EXISTS idx_watch_links_enabled ON watch_links(enabled);
