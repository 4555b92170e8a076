-- The master keys that sign playback sessions, kept by id: a session cookie names the key
-- that signed it. retired_at is when a newer key replaced it.
CREATE TABLE IF NOT EXISTS linkd_signing_keys (
    id BIGSERIAL PRIMARY KEY,
    value BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

INSERT INTO linkd_signing_keys (value, created_at)
    SELECT value, created_at FROM linkd_keys
    WHERE name = 'session'
      AND NOT EXISTS (SELECT 1 FROM linkd_signing_keys);

DELETE FROM linkd_keys WHERE name = 'session';
