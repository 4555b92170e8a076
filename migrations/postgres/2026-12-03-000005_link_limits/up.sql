-- Sharing limits of a link: the viewer cap, whether it is a one-time link and the session
-- it is bound to, and the generation of its sessions.
CREATE TABLE IF NOT EXISTS link_limits (
    link_id BIGINT PRIMARY KEY NOT NULL,
    max_viewers INTEGER,
    once INTEGER NOT NULL DEFAULT 0,
    bound_session BIGINT,
    generation INTEGER NOT NULL DEFAULT 0
);
