-- Authorization codes (SPEC §6): stored as SHA-256 hashes, single-use, 60 s.
CREATE TABLE authorization_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash TEXT NOT NULL UNIQUE,
    application_id BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    -- oxide-auth's PKCE grant extension, kept opaque (challenge and method).
    pkce TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Signed-in browsers: the cookie carries a random token, the table its SHA-256.
CREATE TABLE browser_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);

-- Server-side sign-ins at Google or Facebook in flight (SPEC §6): the state sent to the
-- provider (hashed), the browser it was started from, and the pending authorization
-- request to resume. Single-use, ten minutes.
CREATE TABLE provider_logins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state_hash TEXT NOT NULL UNIQUE,
    session_hash TEXT NOT NULL,
    backend TEXT NOT NULL,
    code_verifier TEXT,
    nonce TEXT,
    pending TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX provider_logins_session ON provider_logins (session_hash);

-- The provider's refresh token from a code exchange, sealed with PORTCULLIS_SECRET_KEY.
ALTER TABLE social_accounts ADD COLUMN provider_refresh_token TEXT;
