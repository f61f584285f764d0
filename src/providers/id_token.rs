//! Local verification of provider ID tokens (Google, Apple): RS256 signature against the
//! provider's JWKS, issuer, audience, expiry and an optional nonce. No network call when
//! the keys are cached.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::jwks::JwksCache;
use super::ProviderError;
use crate::tokens::random::sha256_hex;

/// Clock skew tolerated on `exp`, `iat` and `nbf`.
const LEEWAY_SECS: u64 = 60;

pub struct IdTokenVerifier {
    provider: &'static str,
    jwks: JwksCache,
    issuers: Vec<String>,
    audiences: Vec<String>,
}

impl IdTokenVerifier {
    pub fn new(provider: &'static str, jwks: JwksCache, issuers: &[&str], audiences: &[String]) -> Self {
        Self {
            provider,
            jwks,
            issuers: issuers.iter().map(|s| (*s).to_owned()).collect(),
            audiences: audiences.to_vec(),
        }
    }

    /// The token's claims, once every check passed.
    pub async fn verify(&self, token: &str, nonce: Option<&str>) -> Result<Value, ProviderError> {
        let rejected = |why: &str| ProviderError::Rejected(format!("The {} ID token {why}.", self.provider));
        let header = jsonwebtoken::decode_header(token).map_err(|_| rejected("is malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(rejected("is not signed with RS256"));
        }
        let kid = header.kid.ok_or_else(|| rejected("names no signing key"))?;
        let key = self.jwks.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&self.issuers);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => rejected("has expired"),
                ErrorKind::InvalidAudience => rejected("was issued for another application (aud)"),
                ErrorKind::InvalidIssuer => rejected("has the wrong issuer"),
                ErrorKind::InvalidSignature => rejected("signature does not verify"),
                ErrorKind::MissingRequiredClaim(claim) => rejected(&format!("lacks the '{claim}' claim")),
                ErrorKind::ImmatureSignature => rejected("is not valid yet"),
                _ => rejected("could not be verified"),
            })?
            .claims;
        if let Some(expected) = nonce {
            // Apple puts the SHA-256 of the nonce in the token, Google the nonce itself.
            let actual = claims.get("nonce").and_then(Value::as_str).unwrap_or_default();
            if actual != expected && actual != sha256_hex(expected) {
                return Err(rejected("nonce does not match"));
            }
        }
        Ok(claims)
    }
}
