-- Whether a link has played on a device before is one index seek, whatever the number of
-- devices (a link shared with a large audience starts thousands of sessions).
CREATE INDEX IF NOT EXISTS idx_link_audit_device ON link_audit(link_id, kind, device);
