-- A stamp that every change to applications replaces with a random value, by any
-- process (the server, the CLI, the sqlite3 shell), in the changing transaction. The
-- server keeps applications in memory with the stamp they were read at, and a grant
-- issued on the strength of such an entry first checks, in its own write transaction,
-- that the stamp is still the same (src/auth/stamped_clients.rs), so a rotated secret
-- or a deleted application stops working at once. Random rather than counted: a
-- database restored from a backup, or a counter set back by hand, cannot bring an old
-- stamp back. PostgreSQL tells servers of changes with NOTIFY instead (migration 3).
CREATE TABLE application_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stamp BIGINT NOT NULL
);
INSERT INTO application_changes (id, stamp) VALUES (1, random());

CREATE TRIGGER applications_inserted AFTER INSERT ON applications
BEGIN
    UPDATE application_changes SET stamp = random() WHERE id = 1;
END;
CREATE TRIGGER applications_updated AFTER UPDATE ON applications
BEGIN
    UPDATE application_changes SET stamp = random() WHERE id = 1;
END;
CREATE TRIGGER applications_deleted AFTER DELETE ON applications
BEGIN
    UPDATE application_changes SET stamp = random() WHERE id = 1;
END;
