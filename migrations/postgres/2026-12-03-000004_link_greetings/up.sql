-- Greetings shown to a link's viewers, set only when the operator asks for one.
CREATE TABLE IF NOT EXISTS link_greetings (
    link_id BIGINT PRIMARY KEY NOT NULL,
    greeting TEXT NOT NULL
);
