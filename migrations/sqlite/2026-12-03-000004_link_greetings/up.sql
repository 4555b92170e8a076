-- Greetings shown to a link's viewers, set only when the operator asks for one (a link's
-- note is the operator's private label and never shown). A table of linkd's own, so
-- watch_links stays as the Go service had it.
CREATE TABLE IF NOT EXISTS link_greetings (
    link_id INTEGER PRIMARY KEY NOT NULL,
    greeting TEXT NOT NULL
);
