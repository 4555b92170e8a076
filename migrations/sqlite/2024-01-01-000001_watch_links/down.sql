DROP INDEX IF EXISTS idx_watch_links_enabled;
DROP INDEX IF EXISTS idx_watch_links_token;
DROP TABLE IF EXISTS watch_links;
