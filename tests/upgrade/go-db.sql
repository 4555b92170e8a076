-- A database of the Go service as it is on an operator's disk: goose's own table, the
-- migration 00001_init.sql as goose applied it, and links in every state, made at various
-- times (ids with gaps, as deleted rows or failed inserts leave them). Times are relative
-- to now, so links that should play still do when the test runs.
CREATE TABLE goose_db_version (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version_id INTEGER NOT NULL,
    is_applied INTEGER NOT NULL,
    tstamp TIMESTAMP DEFAULT (datetime('now'))
);
INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1);

-- +goose Up
CREATE TABLE watch_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    disabled_at INTEGER,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_watch_links_token ON watch_links(token);
CREATE INDEX idx_watch_links_enabled ON watch_links(enabled);
INSERT INTO goose_db_version (version_id, is_applied) VALUES (1, 1);

-- id 3: permanent, on for a month; 7: temporary, ends tomorrow; 8: expired 10 days ago;
-- 9: switched off 9 days ago; 12: ends in 2 hours.
INSERT INTO watch_links (id, token, enabled, created_at, expires_at, disabled_at, note) VALUES
    (3, 'Go3permanentAAAAAAAAAAAAAAAAAAAA', 1, CAST(strftime('%s', 'now') AS INTEGER) - 30 * 86400, NULL, NULL, 'ex-boss'),
    (7, 'Go7tomorrowBBBBBBBBBBBBBBBBBBB-_', 1, CAST(strftime('%s', 'now') AS INTEGER) - 3600, CAST(strftime('%s', 'now') AS INTEGER) + 86400, NULL, 'Grandma'),
    (8, 'Go8expiredCCCCCCCCCCCCCCCCCCCCCC', 1, CAST(strftime('%s', 'now') AS INTEGER) - 11 * 86400, CAST(strftime('%s', 'now') AS INTEGER) - 10 * 86400, NULL, ''),
    (9, 'Go9disabledDDDDDDDDDDDDDDDDDDDDD', 0, CAST(strftime('%s', 'now') AS INTEGER) - 12 * 86400, NULL, CAST(strftime('%s', 'now') AS INTEGER) - 9 * 86400, 'old friend'),
    (12, 'Go12twohoursEEEEEEEEEEEEEEEEEEEE', 1, CAST(strftime('%s', 'now') AS INTEGER) - 600, CAST(strftime('%s', 'now') AS INTEGER) + 7200, NULL, '');
