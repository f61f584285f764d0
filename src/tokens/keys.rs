//! The signing key set: Ed25519 keys kept in the database, loaded into memory, published
//! as a JWKS, and reloaded when another replica (or `keys rotate`) adds one.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::db::{self, DbConnection, DbPool, Writer};
use crate::error::ApiError;
use crate::store::keys::{self as key_rows, NewSigningKey, SigningKeyRow};
use crate::tokens::verified::VerifiedTokens;

/// Claims of an access token (SPEC §4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user id, or the client id for `client_credentials`.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

struct Keys {
    /// The parsed signing key and the encoded JWT header naming it. Signing by hand
    /// rather than through `jsonwebtoken::encode`, which re-parses the PKCS#8 document
    /// on every call (a quarter of a token's signing cost).
    signing: Ed25519KeyPair,
    header_b64: String,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

pub struct KeyStore {
    keys: RwLock<Keys>,
    validation: Validation,
    /// The same rules without the expiry check, built once (a clone per call allocates).
    validation_any_expiry: Validation,
    last_reload: RwLock<Instant>,
    verified: VerifiedTokens,
}

/// Unknown `kid`s trigger a reload at most this often, so garbage tokens cannot make
/// every request hit the database.
const RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// Clock skew tolerated between replicas and resource servers.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("token is malformed or its signature does not verify")]
    Invalid,
    #[error("token has expired")]
    Expired,
    #[error("token was signed by an unknown key")]
    UnknownKey,
}

impl KeyStore {
    /// Loads the published keys, generating the first one if the database has none.
    pub fn load_or_create(conn: &mut Writer<'_>, issuer: &str) -> Result<Self, ApiError> {
        let now = crate::time::now();
        let mut rows = key_rows::published(conn, now)?;
        if !rows.iter().any(|r| r.retired_at.is_none()) {
            create_key(conn)?;
            rows = key_rows::published(conn, now)?;
        }
        let keys = build_keys(&rows)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let mut validation_any_expiry = validation.clone();
        validation_any_expiry.validate_exp = false;
        Ok(Self {
            keys: RwLock::new(keys),
            validation,
            validation_any_expiry,
            last_reload: RwLock::new(Instant::now()),
            verified: VerifiedTokens::default(),
        })
    }

    /// Re-reads the key table (after a rotation elsewhere).
    pub fn reload(&self, conn: &mut DbConnection) -> Result<(), ApiError> {
        let rows = key_rows::published(conn, crate::time::now())?;
        if rows.is_empty() {
            return Ok(());
        }
        let keys = build_keys(&rows)?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        self.verified.clear();
        *self.last_reload.write().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Ok(())
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, ApiError> {
        let payload = serde_json::to_vec(claims).map_err(ApiError::internal)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let mut token = String::with_capacity(keys.header_b64.len() + payload.len() * 4 / 3 + 100);
        token.push_str(&keys.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = keys.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }

    /// The published key set, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).jwks.clone()
    }

    /// Checks signature, issuer, audience and expiry. Revocation is the caller's check.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verify_with(token, &self.validation)
    }

    /// Like `verify`, but accepts expired tokens (revocation and introspection of a token
    /// need to know whose it is even after it expired).
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verify_with(token, &self.validation_any_expiry)
    }

    fn verify_with(&self, token: &str, validation: &Validation) -> Result<AccessClaims, VerifyError> {
        if let Some(claims) = self.verified.get(token) {
            let expired = claims.exp.saturating_add(validation.leeway as i64) < crate::time::now();
            return if validation.validate_exp && expired { Err(VerifyError::Expired) } else { Ok(claims) };
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Invalid)?;
        let kid = header.kid.ok_or(VerifyError::Invalid)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys.verifying.get(&kid).ok_or(VerifyError::UnknownKey)?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => VerifyError::Expired,
                _ => VerifyError::Invalid,
            })?;
        self.verified.insert(token, &claims);
        Ok(claims)
    }

    /// Verifies, reloading the key set once if the token names a key we have not seen
    /// (another replica may have rotated).
    pub async fn verify_fresh(
        &self,
        pool: &DbPool,
        token: &str,
        ignore_expiry: bool,
    ) -> Result<AccessClaims, VerifyError> {
        let check = |store: &Self| {
            if ignore_expiry {
                store.verify_ignoring_expiry(token)
            } else {
                store.verify(token)
            }
        };
        match check(self) {
            Err(VerifyError::UnknownKey) if self.may_reload() => {
                *self.last_reload.write().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                let rows = db::run(pool, |conn| Ok(key_rows::published(conn, crate::time::now())?)).await;
                if let Ok(rows) = rows {
                    if let Ok(keys) = build_keys(&rows) {
                        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
                        self.verified.clear();
                    }
                }
                check(self)
            }
            other => other,
        }
    }

    fn may_reload(&self) -> bool {
        self.last_reload.read().map(|t| t.elapsed() >= RELOAD_INTERVAL).unwrap_or(true)
    }
}

/// Generates and stores a new Ed25519 key; returns its `kid`.
pub fn create_key(conn: &mut Writer<'_>) -> Result<String, ApiError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(ApiError::internal)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(ApiError::internal)?;
    let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let kid = crate::tokens::random::token(12);
    key_rows::insert(
        conn,
        &NewSigningKey {
            kid: &kid,
            algorithm: "EdDSA",
            private_key: &STANDARD.encode(pkcs8.as_ref()),
            public_key: &public,
            created_at: crate::time::now(),
        },
    )?;
    Ok(kid)
}

/// Makes a new key the signing key; older keys stay published for `publish_for` seconds
/// (the access-token lifetime), so tokens they signed keep verifying until they expire.
pub fn rotate(conn: &mut Writer<'_>, publish_for: i64) -> Result<String, ApiError> {
    conn.transaction(|conn| {
        let kid = create_key(conn)?;
        let now = crate::time::now();
        key_rows::retire_all_but(conn, &kid, now, now + publish_for)?;
        Ok(kid)
    })
}

fn build_keys(rows: &[SigningKeyRow]) -> Result<Keys, ApiError> {
    let signer = rows
        .iter()
        .find(|r| r.retired_at.is_none())
        .or_else(|| rows.first())
        .ok_or_else(|| ApiError::internal("no signing key"))?;
    let der = STANDARD.decode(&signer.private_key).map_err(ApiError::internal)?;
    let signing = Ed25519KeyPair::from_pkcs8(&der).map_err(ApiError::internal)?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(signer.kid.clone());
    header.typ = Some("at+jwt".into());
    let header_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(ApiError::internal)?);
    let mut verifying = HashMap::new();
    let mut published = Vec::new();
    for row in rows {
        let key = DecodingKey::from_ed_components(&row.public_key).map_err(ApiError::internal)?;
        verifying.insert(row.kid.clone(), key);
        published.push(serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "use": "sig",
            "alg": "EdDSA",
            "kid": row.kid,
            "x": row.public_key,
        }));
    }
    Ok(Keys { signing, header_b64, verifying, jwks: serde_json::json!({ "keys": published }) })
}
