DROP TRIGGER IF EXISTS applications_deleted;
DROP TRIGGER IF EXISTS applications_updated;
DROP TRIGGER IF EXISTS applications_inserted;
DROP TABLE IF EXISTS application_changes;
