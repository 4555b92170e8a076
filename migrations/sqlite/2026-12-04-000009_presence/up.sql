-- Who watches where, when several gates share one database: each gate replaces its own
-- rows (live sessions per link) every few seconds and sums the other gates' fresh rows.
CREATE TABLE IF NOT EXISTS linkd_presence (
    gate TEXT NOT NULL,
    link_id BIGINT NOT NULL,
    viewers INTEGER NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (gate, link_id)
);
