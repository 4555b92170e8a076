-- State that only linkd keeps, beside the links: named keys, the event log that botd reads,
-- its read position, and when each link was first opened.
CREATE TABLE IF NOT EXISTS linkd_keys (
    name TEXT PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS link_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    link_id BIGINT,
    note TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS event_cursors (
    consumer TEXT PRIMARY KEY NOT NULL,
    last_id BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS link_opens (
    link_id BIGINT PRIMARY KEY NOT NULL,
    first_opened_at BIGINT NOT NULL
);
