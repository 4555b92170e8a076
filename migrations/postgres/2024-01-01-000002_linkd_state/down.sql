DROP TABLE IF EXISTS link_opens;
DROP TABLE IF EXISTS event_cursors;
DROP TABLE IF EXISTS link_events;
DROP TABLE IF EXISTS linkd_keys;
