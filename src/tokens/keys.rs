//! The signing key set: an Ed25519 key (access tokens, and ID tokens of applications that
//! ask for EdDSA) and an RSA key (RS256 ID tokens, which OpenID Connect requires every
//! provider to offer), kept in the database, loaded into memory, published together as a
//! JWKS, and reloaded when another replica (or `keys rotate`) adds one.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::db::{self, DbConnection, DbPool, Writer};
use crate::domain::IdTokenAlg;
use crate::error::ApiError;
use crate::store::keys::{self as key_rows, NewSigningKey, SigningKeyRow, EDDSA, RS256};
use crate::tokens::sealed;
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
    /// The same key's header for an ID token (`typ` JWT, not an access token's).
    id_header_b64: String,
    /// The RSA key for RS256 ID tokens, and its header.
    rsa: RsaKeyPair,
    rsa_header_b64: String,
    /// Access tokens verify against the Ed25519 keys alone: an RS256 token is never one.
    verifying: HashMap<String, DecodingKey>,
    /// Every published key by `kid`, for our own ID tokens coming back (`id_token_hint`).
    id_verifying: HashMap<String, (Algorithm, DecodingKey)>,
    jwks: serde_json::Value,
}

pub struct KeyStore {
    keys: RwLock<Keys>,
    validation: Validation,
    /// The same rules without the expiry check, built once (a clone per call allocates).
    validation_any_expiry: Validation,
    last_reload: RwLock<Instant>,
    verified: VerifiedTokens,
    /// The operator's `PORTCULLIS_SECRET_KEY`, under which private keys are sealed at rest.
    sealing: Option<SecretString>,
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
    /// Loads the published keys, generating a key of each algorithm that has none signing.
    /// With `sealing` (an operator's `PORTCULLIS_SECRET_KEY`), private keys are kept sealed.
    pub fn load_or_create(
        conn: &mut Writer<'_>,
        issuer: &str,
        sealing: Option<SecretString>,
    ) -> Result<Self, ApiError> {
        let now = crate::time::now();
        let mut rows = key_rows::published(conn, now)?;
        let signing = |rows: &[SigningKeyRow], algorithm: &str| {
            rows.iter().any(|r| r.signs_at(now) && r.algorithm == algorithm)
        };
        // A database from before ID tokens has an Ed25519 key only: its RSA key is made
        // here, on the first start that needs it.
        if !signing(&rows, EDDSA) || !signing(&rows, RS256) {
            if !signing(&rows, EDDSA) {
                create_ed25519_key(conn, None, sealing.as_ref())?;
            }
            if !signing(&rows, RS256) {
                create_rsa_key(conn, None, sealing.as_ref())?;
            }
            rows = key_rows::published(conn, now)?;
        }
        let keys = build_keys(&rows, now, sealing.as_ref())?;
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
            sealing,
        })
    }

    /// Re-reads the key table (after a rotation elsewhere).
    pub fn reload(&self, conn: &mut DbConnection) -> Result<(), ApiError> {
        let now = crate::time::now();
        let rows = key_rows::published(conn, now)?;
        if rows.is_empty() {
            return Ok(());
        }
        let keys = build_keys(&rows, now, self.sealing.as_ref())?;
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

    /// Signs an ID token's claims with the key of `alg`.
    pub fn sign_id<C: Serialize>(&self, claims: &C, alg: IdTokenAlg) -> Result<String, ApiError> {
        let payload = serde_json::to_vec(claims).map_err(ApiError::internal)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let header = match alg {
            IdTokenAlg::EdDsa => &keys.id_header_b64,
            IdTokenAlg::Rs256 => &keys.rsa_header_b64,
        };
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = match alg {
            IdTokenAlg::EdDsa => keys.signing.sign(token.as_bytes()).as_ref().to_vec(),
            IdTokenAlg::Rs256 => {
                let mut signature = vec![0; keys.rsa.public_modulus_len()];
                keys.rsa
                    .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), token.as_bytes(), &mut signature)
                    .map_err(|_| ApiError::internal("RSA signing failed"))?;
                signature
            }
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }

    /// The claims of an ID token this server signed, checked by signature and issuer only:
    /// `id_token_hint` names a session that may have ended long ago.
    pub fn verify_id_hint(&self, token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let (algorithm, key) = keys.id_verifying.get(header.kid.as_deref()?)?;
        let mut validation = Validation::new(*algorithm);
        validation.set_issuer(&[self.issuer()]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, key, &validation)
            .ok()
            .map(|data| data.claims)
    }

    fn issuer(&self) -> &str {
        self.validation.iss.as_ref().and_then(|iss| iss.iter().next()).map(String::as_str).unwrap_or_default()
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
                let now = crate::time::now();
                let rows = db::run(pool, move |conn| Ok(key_rows::published(conn, now)?)).await;
                if let Ok(rows) = rows {
                    if let Ok(keys) = build_keys(&rows, now, self.sealing.as_ref()) {
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

/// Generates and stores a new Ed25519 key, signing from `activates_at` (None: at once);
/// returns its `kid`.
pub fn create_ed25519_key(
    conn: &mut Writer<'_>,
    activates_at: Option<i64>,
    sealing: Option<&SecretString>,
) -> Result<String, ApiError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(ApiError::internal)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(ApiError::internal)?;
    let public = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    store_key(conn, EDDSA, pkcs8.as_ref(), &public, activates_at, sealing)
}

/// Generates and stores a new 2048-bit RSA key; returns its `kid`. Its public half is
/// kept as the JWKS `n` and `e`, joined by a dot.
pub fn create_rsa_key(
    conn: &mut Writer<'_>,
    activates_at: Option<i64>,
    sealing: Option<&SecretString>,
) -> Result<String, ApiError> {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(ApiError::internal)?;
    let pkcs8 = pair.as_der().map_err(ApiError::internal)?;
    let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let public = format!("{}.{}", URL_SAFE_NO_PAD.encode(&public.n), URL_SAFE_NO_PAD.encode(&public.e));
    store_key(conn, RS256, pkcs8.as_ref(), &public, activates_at, sealing)
}

fn store_key(
    conn: &mut Writer<'_>,
    algorithm: &str,
    pkcs8: &[u8],
    public: &str,
    activates_at: Option<i64>,
    sealing: Option<&SecretString>,
) -> Result<String, ApiError> {
    let kid = crate::tokens::random::token(12);
    key_rows::insert(
        conn,
        &NewSigningKey {
            kid: &kid,
            algorithm,
            private_key: &at_rest(&STANDARD.encode(pkcs8), &kid, sealing),
            public_key: public,
            created_at: crate::time::now(),
            activates_at,
        },
    )?;
    Ok(kid)
}

/// Makes a new key of each algorithm the signing one; older keys stay published for
/// `publish_for` seconds (the access-token lifetime and a margin), so tokens they signed keep verifying
/// until they expire. Returns the new `kid`s, Ed25519 first.
pub fn rotate(
    conn: &mut Writer<'_>,
    publish_for: i64,
    sealing: Option<&SecretString>,
) -> Result<[String; 2], ApiError> {
    conn.transaction(|conn| {
        let kids = [create_ed25519_key(conn, None, sealing)?, create_rsa_key(conn, None, sealing)?];
        let now = crate::time::now();
        key_rows::retire_all_but(conn, &kids, now, now + publish_for)?;
        Ok(kids)
    })
}

/// How long a scheduled rotation's new keys are published before they sign: twice the
/// JWKS's `max-age`, so that a resource server caching the key set has fetched them.
pub const PUBLISH_AHEAD_SECS: i64 = 600;

/// Rotates both keys if the newest is `every` seconds old or more (SPEC §14). The new keys
/// are published at once and sign from `PUBLISH_AHEAD_SECS` on; the old ones sign until
/// then and stay published until every token they can have signed has expired
/// (`token_lifetime` after that, plus the servers' reload period). Of replicas checking at
/// once, one rotates (`store::keys::lock_rotation`); the others see its keys and do
/// nothing. Returns the new `kid`s, if it rotated.
pub fn rotate_if_due(
    conn: &mut Writer<'_>,
    every: i64,
    token_lifetime: i64,
    reload_period: i64,
    sealing: Option<&SecretString>,
) -> Result<Option<[String; 2]>, ApiError> {
    if every <= 0 {
        return Ok(None);
    }
    conn.transaction(|conn| {
        key_rows::lock_rotation(conn)?;
        let now = crate::time::now();
        if key_rows::newest(conn)?.is_some_and(|made| made > now - every) {
            return Ok(None);
        }
        let activates_at = now + PUBLISH_AHEAD_SECS;
        let kids = [
            create_ed25519_key(conn, Some(activates_at), sealing)?,
            create_rsa_key(conn, Some(activates_at), sealing)?,
        ];
        let publish_until = activates_at + token_lifetime + reload_period + LEEWAY_SECS as i64;
        key_rows::retire_all_but(conn, &kids, activates_at, publish_until)?;
        Ok(Some(kids))
    })
}

fn build_keys(rows: &[SigningKeyRow], now: i64, sealing: Option<&SecretString>) -> Result<Keys, ApiError> {
    // Rows come newest first: the newest key of an algorithm that signs now does.
    let signer = |algorithm: &str| {
        rows.iter()
            .filter(|r| r.algorithm == algorithm)
            .find(|r| r.signs_at(now))
            .or_else(|| rows.iter().find(|r| r.algorithm == algorithm))
            .ok_or_else(|| ApiError::internal(format!("no {algorithm} signing key")))
    };
    let (ed25519, rsa) = (signer(EDDSA)?, signer(RS256)?);
    let signing = Ed25519KeyPair::from_pkcs8(&private_der(ed25519, sealing)?).map_err(ApiError::internal)?;
    let rsa_pair = RsaKeyPair::from_pkcs8(&private_der(rsa, sealing)?).map_err(ApiError::internal)?;
    let mut verifying = HashMap::new();
    let mut id_verifying = HashMap::new();
    let mut published = Vec::new();
    for row in rows {
        if row.algorithm == RS256 {
            let (n, e) =
                row.public_key.split_once('.').ok_or_else(|| ApiError::internal("bad RSA public key"))?;
            let key = DecodingKey::from_rsa_components(n, e).map_err(ApiError::internal)?;
            id_verifying.insert(row.kid.clone(), (Algorithm::RS256, key));
            published.push(serde_json::json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": row.kid, "n": n, "e": e,
            }));
        } else {
            let key = DecodingKey::from_ed_components(&row.public_key).map_err(ApiError::internal)?;
            verifying.insert(row.kid.clone(), key.clone());
            id_verifying.insert(row.kid.clone(), (Algorithm::EdDSA, key));
            published.push(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": row.kid, "x": row.public_key,
            }));
        }
    }
    Ok(Keys {
        signing,
        header_b64: header(Algorithm::EdDSA, &ed25519.kid, "at+jwt")?,
        id_header_b64: header(Algorithm::EdDSA, &ed25519.kid, "JWT")?,
        rsa: rsa_pair,
        rsa_header_b64: header(Algorithm::RS256, &rsa.kid, "JWT")?,
        verifying,
        id_verifying,
        jwks: serde_json::json!({ "keys": published }),
    })
}

fn private_der(row: &SigningKeyRow, sealing: Option<&SecretString>) -> Result<Vec<u8>, ApiError> {
    let plain = in_clear(&row.private_key, &row.kid, sealing).map_err(ApiError::internal)?;
    STANDARD.decode(plain).map_err(ApiError::internal)
}

/// A private key as it is stored: sealed under the operator's secret when there is one
/// (its `kid` as the associated data, so a sealed key copied onto another row does not open).
fn at_rest(private_key: &str, kid: &str, sealing: Option<&SecretString>) -> String {
    match sealing {
        Some(secret) => sealed::seal(secret, &key_context(kid), private_key),
        None => private_key.to_owned(),
    }
}

/// A stored private key in clear, or why it cannot be had.
fn in_clear(stored: &str, kid: &str, sealing: Option<&SecretString>) -> Result<String, SealError> {
    if !sealed::is_sealed(stored) {
        return Ok(stored.to_owned());
    }
    let secret = sealing.ok_or(SealError::NoSecret)?;
    sealed::open(secret, &key_context(kid), stored).ok_or(SealError::WrongSecret)
}

fn key_context(kid: &str) -> String {
    format!("signing-key\n{kid}")
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the signing keys are sealed, and PORTCULLIS_SECRET_KEY is not set")]
    NoSecret,
    #[error("the signing keys do not open with this PORTCULLIS_SECRET_KEY (it is not the one they were sealed with)")]
    WrongSecret,
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
}

/// Checks that every published private key can be had with `sealing` (the operator's
/// secret, if any), before a server starts on them.
pub fn check_sealing(conn: &mut Writer<'_>, sealing: Option<&SecretString>) -> Result<(), SealError> {
    for row in key_rows::all(conn)? {
        in_clear(&row.private_key, &row.kid, sealing)?;
    }
    Ok(())
}

/// Seals the private keys still in clear (the first start with an operator's secret).
pub fn seal_in_clear(conn: &mut Writer<'_>, secret: &SecretString) -> Result<usize, SealError> {
    let mut sealed_now = 0;
    for row in key_rows::all(conn)?.into_iter().filter(|row| !sealed::is_sealed(&row.private_key)) {
        key_rows::set_private_key(conn, row.id, &at_rest(&row.private_key, &row.kid, Some(secret)))?;
        sealed_now += 1;
    }
    Ok(sealed_now)
}

/// Re-stores every private key sealed under `new` (or in clear without one), opening each
/// under `old` (or as it is, if it is in clear): first sealing, `keys reseal`, or taking
/// the seal off. A key already sealed under `new` is left, so a reseal can be repeated
/// (a server still running on the old secret may have sealed more under it). Returns how
/// many keys it rewrote.
pub fn reseal(
    conn: &mut Writer<'_>,
    old: Option<&SecretString>,
    new: Option<&SecretString>,
) -> Result<usize, SealError> {
    let rows = key_rows::all(conn)?;
    let mut rewritten = 0;
    for row in rows {
        if new.is_some()
            && sealed::is_sealed(&row.private_key)
            && in_clear(&row.private_key, &row.kid, new).is_ok()
        {
            continue;
        }
        let plain = in_clear(&row.private_key, &row.kid, old)?;
        let stored = at_rest(&plain, &row.kid, new);
        if stored != row.private_key {
            key_rows::set_private_key(conn, row.id, &stored)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// A JWT header naming `kid`, base64url-encoded once per key set.
fn header(algorithm: Algorithm, kid: &str, typ: &str) -> Result<String, ApiError> {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.into());
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(ApiError::internal)?))
}
