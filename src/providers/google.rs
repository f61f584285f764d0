//! Google: access tokens via tokeninfo + userinfo, ID tokens verified locally, and
//! authorization codes exchanged with our client secret.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::http::{self, ProviderHttp};
use super::id_token::IdTokenVerifier;
use super::jwks::JwksCache;
use super::{loose_bool, loose_i64, text, IdentityProvider, Profile, ProviderError, RedirectSignIn};
use crate::config::ProviderSettings;

pub const NAME: &str = "google-oauth2";
const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

pub struct Google {
    http: Arc<ProviderHttp>,
    client_ids: Vec<String>,
    client_secret: Option<secrecy::SecretString>,
    auth_url: String,
    token_url: String,
    tokeninfo_url: String,
    userinfo_url: String,
    id_tokens: IdTokenVerifier,
}

impl Google {
    /// `None` when `PORTCULLIS_GOOGLE_CLIENT_IDS` is empty: Google is disabled.
    pub fn new(settings: &ProviderSettings, http: Arc<ProviderHttp>) -> Option<Self> {
        if settings.google_client_ids.is_empty() {
            return None;
        }
        let jwks = JwksCache::new(NAME, settings.google_jwks_url.clone(), http.clone());
        Some(Self {
            id_tokens: IdTokenVerifier::new(NAME, jwks, &ISSUERS, &settings.google_client_ids),
            http,
            client_ids: settings.google_client_ids.clone(),
            client_secret: settings.google_client_secret.clone(),
            auth_url: settings.google_auth_url.clone(),
            token_url: settings.google_token_url.clone(),
            tokeninfo_url: settings.google_tokeninfo_url.clone(),
            userinfo_url: settings.google_userinfo_url.clone(),
        })
    }

    async fn profile_from_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<Profile, ProviderError> {
        let claims = self.id_tokens.verify(token, nonce).await?;
        Ok(profile(&claims))
    }

    async fn profile_from_access_token(&self, token: &str) -> Result<Profile, ProviderError> {
        // Both calls go out at once: userinfo only reaches Google, which issued the
        // token, and its answer is read only after tokeninfo has vouched for the token.
        let (info, user) = futures_util::future::join(
            http::json(
                "Google",
                self.http.client().get(&self.tokeninfo_url).query(&[("access_token", token)]),
            ),
            http::json("Google", self.http.client().get(&self.userinfo_url).bearer_auth(token)),
        )
        .await;
        let (status, info) = info?;
        if status != 200 {
            return Err(ProviderError::Rejected("Google rejected the access token (tokeninfo).".into()));
        }
        let audience_ok =
            ["aud", "azp"].iter().any(|k| self.client_ids.iter().any(|id| info[*k].as_str() == Some(id)));
        if !audience_ok {
            return Err(ProviderError::Rejected(
                "The Google access token was issued for another application (aud/azp).".into(),
            ));
        }
        let expired = match loose_i64(&info["exp"]) {
            Some(exp) => exp <= crate::time::now(),
            None => loose_i64(&info["expires_in"]).is_none_or(|left| left <= 0),
        };
        if expired {
            return Err(ProviderError::Rejected("The Google access token has expired.".into()));
        }
        let (status, user) = user?;
        if status != 200 {
            return Err(ProviderError::Rejected("Google rejected the access token (userinfo).".into()));
        }
        let sub = text(&user["sub"]);
        if sub.is_empty() || info["sub"].as_str().is_some_and(|s| s != sub) {
            return Err(ProviderError::Rejected("Google's userinfo does not match the token.".into()));
        }
        Ok(profile(&user))
    }

    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<Profile, ProviderError> {
        let secret = self.client_secret.as_ref().ok_or_else(|| {
            ProviderError::Unsupported("Google code exchange needs PORTCULLIS_GOOGLE_CLIENT_SECRET.".into())
        })?;
        let tokens = http::exchange_code(
            "Google",
            &self.http,
            http::CodeExchange {
                client_id: &self.client_ids[0],
                client_secret: secret.expose_secret(),
                auth_url: &self.auth_url,
                token_url: &self.token_url,
                code,
                redirect_uri,
                code_verifier: verifier,
            },
        )
        .await?;
        let mut profile = match tokens.id_token {
            Some(id_token) => self.profile_from_id_token(&id_token, nonce).await?,
            None if nonce.is_some() => {
                return Err(ProviderError::Rejected(
                    "Google's answer lacks the ID token we asked for.".into(),
                ))
            }
            None => self.profile_from_access_token(&tokens.access_token).await?,
        };
        profile.refresh_token = tokens.refresh_token;
        Ok(profile)
    }
}

/// A profile from ID token claims or userinfo (the same field names).
fn profile(claims: &Value) -> Profile {
    Profile {
        provider: NAME,
        uid: text(&claims["sub"]),
        email: claims["email"].as_str().map(str::to_lowercase),
        email_verified: loose_bool(&claims["email_verified"]),
        first_name: text(&claims["given_name"]),
        last_name: text(&claims["family_name"]),
        extra: serde_json::json!({
            "name": claims["name"],
            "picture": claims["picture"],
            "locale": claims["locale"],
            "email": claims["email"],
        }),
        refresh_token: None,
    }
}

impl IdentityProvider for Google {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify_token<'a>(
        &'a self,
        token: &'a str,
        nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>> {
        if crate::domain::looks_like_jwt(token) {
            Box::pin(self.profile_from_id_token(token, nonce))
        } else {
            Box::pin(self.profile_from_access_token(token))
        }
    }

    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: Option<&'a str>,
        nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>> {
        Box::pin(self.exchange(code, redirect_uri, code_verifier, nonce))
    }

    fn redirect_sign_in(&self) -> Option<RedirectSignIn<'_>> {
        self.client_secret.as_ref()?;
        Some(RedirectSignIn {
            label: "Google",
            auth_url: &self.auth_url,
            client_id: &self.client_ids[0],
            scopes: &["openid", "email", "profile"],
            pkce: true,
            nonce: true,
            // A refresh token (offline), and the account chooser even for a browser
            // signed in to one Google account, so a shared computer picks the right one.
            extra_params: &[("access_type", "offline"), ("prompt", "select_account")],
        })
    }
}
