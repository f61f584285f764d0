//! Identity providers (Google, Facebook, Apple): turning a token or code obtained on a
//! device into a verified profile. One trait, one file per provider, one HTTP client.

pub mod apple;
pub mod facebook;
pub mod google;
pub mod http;
pub mod id_token;
pub mod jwks;

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::config::ProviderSettings;
use crate::error::ApiError;

/// What a provider vouches for about a user.
#[derive(Debug, Clone)]
pub struct Profile {
    pub provider: &'static str,
    /// The provider's stable id for the user (Google's `sub`, never the email).
    pub uid: String,
    pub email: Option<String>,
    /// Whether the provider verified that the user owns `email`.
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    /// Profile fields kept with the link (no provider tokens).
    pub extra: serde_json::Value,
    /// The provider's refresh token, when a code exchange gave one (Google with
    /// `access_type=offline`); kept sealed with the link, never shown.
    pub refresh_token: Option<secrecy::SecretString>,
}

impl Profile {
    /// The profile as the rest of the server may store it. A provider's answer is
    /// checked like a user's input: a user id must be plain text (PostgreSQL refuses
    /// NUL, and the id keys the link), an email that sign-up would refuse is dropped
    /// rather than stored or matched, and names lose control characters and are cut
    /// to sign-up's length.
    pub fn checked(mut self) -> Result<Profile, ProviderError> {
        let plain = |s: &str| !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control);
        if !plain(&self.uid) {
            return Err(ProviderError::Rejected("The provider's answer has no usable user id.".into()));
        }
        if self.email.as_deref().is_some_and(|e| crate::domain::Email::parse(e).is_err()) {
            self.email = None;
            self.email_verified = false;
        }
        let tidy = |name: &str| {
            name.chars().filter(|c| !c.is_control()).take(crate::domain::NAME_MAX).collect::<String>()
        };
        self.first_name = tidy(&self.first_name);
        self.last_name = tidy(&self.last_name);
        Ok(self)
    }
}

/// How to send a browser to a provider's own sign-in page (SPEC §6).
pub struct RedirectSignIn<'a> {
    /// The name on the "Continue with ..." link.
    pub label: &'static str,
    pub auth_url: &'a str,
    pub client_id: &'a str,
    pub scopes: &'static [&'static str],
    /// Send a PKCE challenge (S256).
    pub pkce: bool,
    /// Send a nonce and require it in the ID token.
    pub nonce: bool,
    pub extra_params: &'static [(&'static str, &'static str)],
}

/// What the client brought from the device.
pub enum Credential<'a> {
    /// An access token or, where the provider issues them, an ID token (a JWT).
    Token(&'a str),
    /// An authorization code for us to exchange with our client secret.
    Code { code: &'a str, redirect_uri: &'a str, code_verifier: Option<&'a str> },
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider (or our check of its answer) refused the token: `invalid_grant`.
    #[error("{0}")]
    Rejected(String),
    /// The provider did not answer in time or failed: `temporarily_unavailable`.
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot be served by this provider as configured: `invalid_request`.
    #[error("{0}")]
    Unsupported(String),
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Rejected(d) => ApiError::InvalidGrant(d),
            ProviderError::Unavailable(d) => ApiError::unavailable(d),
            ProviderError::Unsupported(d) => ApiError::InvalidRequest(d),
        }
    }
}

pub trait IdentityProvider: Send + Sync {
    /// The backend name clients send (`google-oauth2`, `facebook`, `apple-id`).
    fn name(&self) -> &'static str;

    /// Verifies the credential with the provider and returns the user's profile.
    /// `nonce`, when given, must match an ID token's `nonce` claim.
    fn verify<'a>(
        &'a self,
        credential: Credential<'a>,
        nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>> {
        match credential {
            Credential::Token(token) => self.verify_token(token, nonce),
            Credential::Code { code, redirect_uri, code_verifier } => {
                self.exchange_code(code, redirect_uri, code_verifier, nonce)
            }
        }
    }

    /// The profile behind a token the client obtained on the device (`Credential::Token`).
    fn verify_token<'a>(
        &'a self,
        token: &'a str,
        nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>>;

    /// The profile behind an authorization code, exchanged with our client secret
    /// (`Credential::Code`).
    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: Option<&'a str>,
        nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>>;

    /// The browser sign-in at the provider; None when this provider, as configured,
    /// cannot exchange a code of its own (no client secret).
    fn redirect_sign_in(&self) -> Option<RedirectSignIn<'_>> {
        None
    }
}

/// The configured providers; one not configured is unknown to clients.
#[derive(Clone, Default)]
pub struct Providers {
    all: Vec<Arc<dyn IdentityProvider>>,
}

impl Providers {
    pub fn new(settings: &ProviderSettings) -> Self {
        let http = Arc::new(http::ProviderHttp::new(settings.timeout_ms));
        let mut all: Vec<Arc<dyn IdentityProvider>> = Vec::new();
        if let Some(google) = google::Google::new(settings, http.clone()) {
            all.push(Arc::new(google));
        }
        if let Some(facebook) = facebook::Facebook::new(settings, http.clone()) {
            all.push(Arc::new(facebook));
        }
        if let Some(apple) = apple::Apple::new(settings, http) {
            all.push(Arc::new(apple));
        }
        Self { all }
    }

    pub fn get(&self, backend: &str) -> Option<&dyn IdentityProvider> {
        self.all.iter().find(|p| p.name() == backend).map(|p| p.as_ref())
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.all.iter().map(|p| p.name()).collect()
    }
}

/// Providers answer numbers and booleans as JSON values or as strings
/// (Google's tokeninfo: `"exp": "1700000000"`, `"email_verified": "true"`).
pub fn loose_bool(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub fn loose_i64(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loose_values_accept_strings_and_native_json() {
        assert!(loose_bool(&json!(true)));
        assert!(loose_bool(&json!("true")));
        assert!(!loose_bool(&json!("false")));
        assert_eq!(loose_i64(&json!("1700000000")), Some(1_700_000_000));
        assert_eq!(loose_i64(&json!(42)), Some(42));
        assert_eq!(loose_i64(&json!(null)), None);
    }
}
