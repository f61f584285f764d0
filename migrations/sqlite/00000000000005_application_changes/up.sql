-- A counter that every change to applications moves, by any process (the server, the
-- CLI, the sqlite3 shell), in the changing transaction. The server keeps applications
-- in memory stamped with the counter they were read at, and a grant issued on the
-- strength of a stamped entry checks the counter in its own write first
-- (src/auth/client_cache.rs), so a rotated secret or a deleted application stops
-- working at once. PostgreSQL tells servers of changes with NOTIFY instead (migration 3).
CREATE TABLE application_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO application_changes (id, version) VALUES (1, 0);

CREATE TRIGGER applications_inserted AFTER INSERT ON applications
BEGIN
    UPDATE application_changes SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER applications_updated AFTER UPDATE ON applications
BEGIN
    UPDATE application_changes SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER applications_deleted AFTER DELETE ON applications
BEGIN
    UPDATE application_changes SET version = version + 1 WHERE id = 1;
END;
