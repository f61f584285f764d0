-- Email flows (verification, password reset, change of address). An imported or existing
-- account starts unverified; a reset, a verification link or a provider that verified the
-- address marks it.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT 0;

-- One row per link mailed: only the SHA-256 of its token is kept. `email` is the address
-- the link went to (for a change of address, the new one); a link is good only while the
-- account still has the address it was sent for.
CREATE TABLE email_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
