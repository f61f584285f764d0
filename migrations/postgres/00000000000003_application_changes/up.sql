-- Every change to applications, by any process (a replica, the CLI, psql), tells each
-- server's client cache to forget what it holds. The payload is the transaction id,
-- which the servers echo on portcullis_applications_ack once they have forgotten, so
-- the writer can wait for every one of them (src/auth/client_cache.rs). PostgreSQL
-- folds identical notifications of one transaction and sends them at commit.
CREATE FUNCTION portcullis_applications_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portcullis_applications', txid_current()::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER applications_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_applications_changed();
