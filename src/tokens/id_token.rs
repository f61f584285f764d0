//! What OpenID Connect says about a user (SPEC §13): the claims a token's scope allows,
//! shared by ID tokens and `/auth/userinfo`, and the ID token's own claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};

use crate::domain::scope::{EMAIL, PROFILE};
use crate::domain::{IdTokenAlg, Scope};
use crate::store::users::User;

/// `sub` and the claims `scope` allows: `email` and `email_verified` with `email`; the
/// names, username and `updated_at` with `profile`.
#[derive(Debug, Clone, Serialize)]
pub struct UserClaims {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

impl UserClaims {
    pub fn of(user: &User, scope: &Scope) -> Self {
        let email = scope.contains(EMAIL) && user.email.is_some();
        let profile = scope.contains(PROFILE);
        let some = |text: &str| Some(text.to_owned()).filter(|t| !t.is_empty());
        let name = format!("{} {}", user.first_name, user.last_name);
        Self {
            sub: user.id.to_string(),
            email: user.email.clone().filter(|_| email),
            email_verified: email.then_some(user.email_verified),
            name: some(name.trim()).filter(|_| profile),
            given_name: some(&user.first_name).filter(|_| profile),
            family_name: some(&user.last_name).filter(|_| profile),
            preferred_username: profile.then(|| user.username.clone()),
            updated_at: profile.then(|| user.updated_at.unwrap_or(user.date_joined)),
        }
    }
}

/// An ID token's claims.
#[derive(Debug, Clone, Serialize)]
pub struct IdClaims {
    pub iss: String,
    /// The client the token is for.
    pub aud: String,
    pub azp: String,
    pub iat: i64,
    pub exp: i64,
    /// When the user signed in to start this session; kept across refreshes.
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    /// The sign-in this token belongs to (its refresh family).
    pub sid: String,
    #[serde(flatten)]
    pub user: UserClaims,
}

/// OIDC Core §3.1.3.6: the left half of the access token's hash, by the hash of the ID
/// token's algorithm (SHA-512 for Ed25519, as relying parties compute it).
pub fn at_hash(access_token: &str, alg: IdTokenAlg) -> String {
    match alg {
        IdTokenAlg::Rs256 => URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16]),
        IdTokenAlg::EdDsa => URL_SAFE_NO_PAD.encode(&Sha512::digest(access_token.as_bytes())[..32]),
    }
}
