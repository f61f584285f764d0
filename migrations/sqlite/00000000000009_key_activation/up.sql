-- Automatic key rotation (SPEC §14): a new key is published first and signs only from
-- `activates_at` (NULL: from its creation), so that resource servers caching the JWKS
-- know it before any token signed by it reaches them.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
