-- State that only linkd keeps, beside the links: the key that signs playback sessions (so
-- viewers keep playing across a restart), the event log that botd reads, its read position,
-- and when each link was first opened.
CREATE TABLE IF NOT EXISTS linkd_keys (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS link_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    link_id INTEGER,
    note TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS event_cursors (
    consumer TEXT PRIMARY KEY NOT NULL,
    last_id INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS link_opens (
    link_id INTEGER PRIMARY KEY NOT NULL,
    first_opened_at INTEGER NOT NULL
);
