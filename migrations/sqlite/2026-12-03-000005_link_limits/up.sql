-- Sharing limits of a link (a table of linkd's own, so watch_links keeps the Go service's
-- shape): the viewer cap, whether it is a one-time link and the session it is bound to,
-- and the generation of its sessions (raised by a kick or a rotation: older sessions end).
CREATE TABLE IF NOT EXISTS link_limits (
    link_id INTEGER PRIMARY KEY NOT NULL,
    max_viewers INTEGER,
    once INTEGER NOT NULL DEFAULT 0,
    bound_session BIGINT,
    generation INTEGER NOT NULL DEFAULT 0
);
