-- The audit trail: who changed a link and what its viewers did. Append-only, a table of
-- linkd's own (watch_links stays as the Go service had it); rows older than
-- AUDIT_RETENTION are deleted. Viewer rows keep a truncated address, a browser family and
-- a short per-link device label, never a token, cookie or session id.
CREATE TABLE IF NOT EXISTS link_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    link_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    expires_at INTEGER,
    client TEXT,
    browser TEXT,
    device TEXT,
    seconds INTEGER,
    bytes INTEGER
);

CREATE INDEX IF NOT EXISTS idx_link_audit_link ON link_audit(link_id, id);
CREATE INDEX IF NOT EXISTS idx_link_audit_at ON link_audit(at);

-- The "link opened" notification says on how many devices the link has been opened.
ALTER TABLE link_events ADD COLUMN devices INTEGER NOT NULL DEFAULT 0;
