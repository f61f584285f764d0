//! Opaque access tokens brought over from django-oauth-toolkit by `import-django`. Their
//! records are found by the SHA-256 of the token (DOT's own `token_checksum`), so only the
//! hash is stored, and they act as our tokens until they expire: Bearer, introspection,
//! revocation. Their claims are read from the record rather than from a signature.

use super::keys::AccessClaims;
use super::random::sha256_hex;
use crate::store::tokens::AccessRecord;

/// Marks an imported record's `jti`; ours are random ids that never carry it.
const JTI_PREFIX: &str = "django:";

/// The `jti` under which an imported access token is recorded.
pub fn access_jti(token: &str) -> String {
    access_jti_of_sha256(&sha256_hex(token))
}

/// The same from the token's SHA-256 hex (DOT's `token_checksum`), which is all the
/// importer may have.
pub fn access_jti_of_sha256(sha256: &str) -> String {
    format!("{JTI_PREFIX}{}", sha256.to_ascii_lowercase())
}

/// What a JWT would have said of this token: issued by us, to `client_id`, for its
/// record's user, scope and lifetime.
pub fn claims(record: &AccessRecord, issuer: &str, client_id: String) -> AccessClaims {
    AccessClaims {
        iss: issuer.to_owned(),
        sub: record.user_id.map_or_else(|| client_id.clone(), |id| id.to_string()),
        aud: issuer.to_owned(),
        client_id,
        scope: record.scope.clone(),
        iat: record.created_at,
        exp: record.expires_at,
        jti: record.jti.clone(),
    }
}
