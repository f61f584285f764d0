//! Facebook: user access tokens checked with `debug_token` against our app, then `/me`
//! with `appsecret_proof`; authorization codes exchanged with our app secret.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::http::{self, ProviderHttp};
use super::{text, IdentityProvider, Profile, ProviderError, RedirectSignIn};
use crate::config::ProviderSettings;

pub const NAME: &str = "facebook";

pub struct Facebook {
    http: Arc<ProviderHttp>,
    app_id: String,
    app_secret: SecretString,
    graph_url: String,
    dialog_url: String,
}

impl Facebook {
    /// `None` unless both the app id and secret are configured.
    pub fn new(settings: &ProviderSettings, http: Arc<ProviderHttp>) -> Option<Self> {
        Some(Self {
            app_id: settings.facebook_app_id.clone()?,
            app_secret: settings.facebook_app_secret.clone()?,
            http,
            graph_url: settings.facebook_graph_url.trim_end_matches('/').to_owned(),
            dialog_url: settings.facebook_dialog_url.clone(),
        })
    }

    /// HMAC-SHA256 of the token keyed by the app secret, hex: proves the call comes from
    /// the app's server, as Facebook's "Require App Secret" setting demands.
    fn appsecret_proof(&self, token: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.app_secret.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    async fn profile_from_access_token(&self, token: &str) -> Result<Profile, ProviderError> {
        let app_token = format!("{}|{}", self.app_id, self.app_secret.expose_secret());
        let proof = self.appsecret_proof(token);
        // Both calls go out at once: /me only reaches Facebook, which issued the token,
        // and its answer is read only after debug_token has vouched for the token.
        let (debug, me) = futures_util::future::join(
            http::json(
                "Facebook",
                self.http
                    .client()
                    .get(format!("{}/debug_token", self.graph_url))
                    .query(&[("input_token", token), ("access_token", app_token.as_str())]),
            ),
            http::json(
                "Facebook",
                self.http.client().get(format!("{}/me", self.graph_url)).query(&[
                    ("fields", "id,name,email,first_name,last_name"),
                    ("access_token", token),
                    ("appsecret_proof", proof.as_str()),
                ]),
            ),
        )
        .await;
        let (status, debug) = debug?;
        let data = &debug["data"];
        if status != 200 || data["is_valid"].as_bool() != Some(true) {
            return Err(ProviderError::Rejected("Facebook says the access token is not valid.".into()));
        }
        let app_id = data["app_id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| data["app_id"].as_i64().map(|n| n.to_string()));
        if app_id.as_deref() != Some(self.app_id.as_str()) {
            return Err(ProviderError::Rejected(
                "The Facebook access token was issued for another app.".into(),
            ));
        }
        let (status, me) = me?;
        let uid = me["id"].as_str().map(str::to_owned).or_else(|| me["id"].as_i64().map(|n| n.to_string()));
        let Some(uid) = uid.filter(|_| status == 200) else {
            return Err(ProviderError::Rejected("Facebook refused to return the profile.".into()));
        };
        let email = me["email"].as_str().map(str::to_lowercase);
        Ok(Profile {
            provider: NAME,
            uid,
            // Facebook only returns confirmed emails.
            email_verified: email.is_some(),
            email,
            first_name: text(&me["first_name"]),
            last_name: text(&me["last_name"]),
            extra: serde_json::json!({ "name": me["name"], "email": me["email"] }),
            refresh_token: None,
        })
    }

    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> Result<Profile, ProviderError> {
        let tokens = http::exchange_code(
            "Facebook",
            &self.http,
            http::CodeExchange {
                client_id: &self.app_id,
                client_secret: self.app_secret.expose_secret(),
                auth_url: &self.dialog_url,
                token_url: &format!("{}/oauth/access_token", self.graph_url),
                code,
                redirect_uri,
                code_verifier: verifier,
            },
        )
        .await?;
        self.profile_from_access_token(&tokens.access_token).await
    }
}

impl IdentityProvider for Facebook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify_token<'a>(
        &'a self,
        token: &'a str,
        _nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>> {
        Box::pin(self.profile_from_access_token(token))
    }

    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: Option<&'a str>,
        _nonce: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Profile, ProviderError>> {
        Box::pin(self.exchange(code, redirect_uri, code_verifier))
    }

    fn redirect_sign_in(&self) -> Option<RedirectSignIn<'_>> {
        Some(RedirectSignIn {
            label: "Facebook",
            auth_url: &self.dialog_url,
            client_id: &self.app_id,
            // Facebook reads a comma-separated list; one scope value keeps the comma.
            scopes: &["email,public_profile"],
            pkce: false,
            nonce: false,
            extra_params: &[],
        })
    }
}
