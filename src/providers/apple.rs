//! Sign in with Apple: ID tokens verified locally against Apple's JWKS.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::http::ProviderHttp;
use super::id_token::IdTokenVerifier;
use super::jwks::JwksCache;
use super::{loose_bool, text, IdentityProvider, Profile, ProviderError};
use crate::config::ProviderSettings;

pub const NAME: &str = "apple-id";
const ISSUER: &str = "https://appleid.apple.com";

pub struct Apple {
    id_tokens: IdTokenVerifier,
}

impl Apple {
    /// `None` when `PORTCULLIS_APPLE_CLIENT_IDS` is empty: Apple is disabled.
    pub fn new(settings: &ProviderSettings, http: Arc<ProviderHttp>) -> Option<Self> {
        if settings.apple_client_ids.is_empty() {
            return None;
        }
        let jwks = JwksCache::new(NAME, settings.apple_jwks_url.clone(), http);
        Some(Self { id_tokens: IdTokenVerifier::new(NAME, jwks, &[ISSUER], &settings.apple_client_ids) })
    }
}

fn profile(claims: &Value) -> Profile {
    Profile {
        provider: NAME,
        uid: text(&claims["sub"]),
        email: claims["email"].as_str().map(str::to_lowercase),
        // Apple sends `email_verified` as a boolean or as the string "true".
        email_verified: loose_bool(&claims["email_verified"]),
        // Apple gives names to the app only, on the first sign-in, never in the token.
        first_name: String::new(),
        last_name: String::new(),
        extra: serde_json::json!({
            "email": claims["email"],
            "is_private_email": claims["is_private_email"],
        }),
        refresh_token: None,
    }
}

impl IdentityProvider for Apple {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify_token<'a>(
        &'a self,
        token: &'a str,
        nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>> {
        Box::pin(async move { Ok(profile(&self.id_tokens.verify(token, nonce).await?)) })
    }

    /// Apple's code exchange needs a client secret that is itself a JWT signed with the
    /// developer's key; not supported yet.
    fn exchange_code<'a>(
        &'a self,
        _code: &'a str,
        _redirect_uri: &'a str,
        _code_verifier: Option<&'a str>,
        _nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>> {
        Box::pin(async {
            Err(ProviderError::Unsupported(
                "apple-id accepts ID tokens only, not authorization codes.".into(),
            ))
        })
    }
}
