-- parent_id is a foreign key with ON DELETE SET NULL: without an index, deleting
-- refresh tokens (an application's delete cascades to all of them) scans the table
-- once per deleted row, and the reuse-grace check (child_of) scans it once per call.
CREATE INDEX refresh_tokens_parent ON refresh_tokens (parent_id);
