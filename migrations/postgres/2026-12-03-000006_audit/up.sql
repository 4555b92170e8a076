-- The audit trail: who changed a link and what its viewers did (append-only; rows older
-- than AUDIT_RETENTION are deleted). Never a token, cookie or session id.
CREATE TABLE IF NOT EXISTS link_audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    link_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    expires_at BIGINT,
    client TEXT,
    browser TEXT,
    device TEXT,
    seconds BIGINT,
    bytes BIGINT
);

CREATE INDEX IF NOT EXISTS idx_link_audit_link ON link_audit(link_id, id);
CREATE INDEX IF NOT EXISTS idx_link_audit_at ON link_audit(at);

-- The "link opened" notification says on how many devices the link has been opened.
ALTER TABLE link_events ADD COLUMN IF NOT EXISTS devices INTEGER NOT NULL DEFAULT 0;
