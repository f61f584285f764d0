-- OpenID Connect (SPEC §13).
-- Per application: where RP-initiated logout may send the browser (space-separated, like
-- redirect_uris), and how its ID tokens are signed (RS256 or EdDSA).
ALTER TABLE applications ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';

-- What an ID token needs from the authorization request, kept with its code.
ALTER TABLE authorization_codes ADD COLUMN nonce TEXT;
ALTER TABLE authorization_codes ADD COLUMN auth_time BIGINT;

-- A sign-in that asked for `openid`: when the user authenticated, kept for the ID tokens
-- of every refresh of its family. Other families have no row.
CREATE TABLE openid_sign_ins (
    family_id TEXT PRIMARY KEY,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The profile's last change, for the `updated_at` claim (NULL: unchanged since sign-up).
ALTER TABLE users ADD COLUMN updated_at BIGINT;
