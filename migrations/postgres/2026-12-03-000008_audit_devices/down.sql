DROP INDEX IF EXISTS idx_link_audit_device;
