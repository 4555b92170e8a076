-- The master keys that sign playback sessions, kept by id: a session cookie names the key
-- that signed it, so a rotation lets older sessions run out while new ones use the new key.
-- retired_at is when a newer key replaced it; a retired key is dropped once every session
-- it signed has ended. The first key is the one linkd already had, if any.
CREATE TABLE IF NOT EXISTS linkd_signing_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    value BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

INSERT INTO linkd_signing_keys (value, created_at)
    SELECT value, created_at FROM linkd_keys
    WHERE name = 'session'
      AND NOT EXISTS (SELECT 1 FROM linkd_signing_keys);

DELETE FROM linkd_keys WHERE name = 'session';
