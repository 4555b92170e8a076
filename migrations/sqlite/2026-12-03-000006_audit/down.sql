DROP TABLE IF EXISTS link_audit;
ALTER TABLE link_events DROP COLUMN devices;
