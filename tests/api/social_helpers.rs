//! A fake Google, Facebook and Apple on a local wiremock server, and ID tokens signed
//! with a real RSA key that the fake JWKS publishes.

use hmac::{Hmac, Mac};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{spawn_app_with, Backend, TestApp};

pub const GOOGLE_WEB_ID: &str = "web-client.apps.googleusercontent.com";
pub const GOOGLE_IOS_ID: &str = "ios-client.apps.googleusercontent.com";
pub const FACEBOOK_APP_ID: &str = "1234567890";
pub const FACEBOOK_SECRET: &str = "facebook-app-secret";
pub const APPLE_ID: &str = "com.example.app";
pub const KID: &str = "test-key-1";

const PROVIDER_KEY: &[u8] = include_bytes!("../fixtures/provider_key.pem");
const OTHER_KEY: &[u8] = include_bytes!("../fixtures/other_key.pem");

pub struct Social {
    pub app: TestApp,
    pub providers: MockServer,
}

/// A server whose providers all point at a fresh fake.
pub async fn spawn_social(backend: Backend) -> Social {
    spawn_social_with(backend, |_| {}).await
}

pub async fn spawn_social_with(
    backend: Backend,
    extra: impl FnOnce(&mut portcullis::config::RawSettings),
) -> Social {
    let providers = MockServer::start().await;
    let base = providers.uri();
    let app = spawn_app_with(backend, |s| {
        s.set("PORTCULLIS_GOOGLE_CLIENT_IDS", format!("{GOOGLE_WEB_ID},{GOOGLE_IOS_ID}"))
            .set("PORTCULLIS_GOOGLE_CLIENT_SECRET", "google-client-secret")
            .set("PORTCULLIS_GOOGLE_AUTH_URL", format!("{base}/google/auth"))
            .set("PORTCULLIS_GOOGLE_TOKEN_URL", format!("{base}/google/token"))
            .set("PORTCULLIS_GOOGLE_TOKENINFO_URL", format!("{base}/google/tokeninfo"))
            .set("PORTCULLIS_GOOGLE_USERINFO_URL", format!("{base}/google/userinfo"))
            .set("PORTCULLIS_GOOGLE_JWKS_URL", format!("{base}/google/certs"))
            .set("PORTCULLIS_FACEBOOK_APP_ID", FACEBOOK_APP_ID)
            .set("PORTCULLIS_FACEBOOK_APP_SECRET", FACEBOOK_SECRET)
            .set("PORTCULLIS_FACEBOOK_GRAPH_URL", format!("{base}/facebook"))
            .set("PORTCULLIS_FACEBOOK_DIALOG_URL", format!("{base}/facebook/dialog"))
            .set("PORTCULLIS_APPLE_CLIENT_IDS", APPLE_ID)
            .set("PORTCULLIS_APPLE_JWKS_URL", format!("{base}/apple/keys"))
            .set("PORTCULLIS_PROVIDER_TIMEOUT_MS", "1000");
        extra(s);
    })
    .await;
    Social { app, providers }
}

fn encoding_key(pem: &[u8]) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem).expect("test RSA key")
}

/// The JWKS publishing the provider key under `KID`.
pub fn jwks() -> Value {
    jwks_with(&[(false, KID)])
}

/// A JWKS publishing the provider key or (`true`) the other key under each kid.
pub fn jwks_with(keys: &[(bool, &str)]) -> Value {
    let keys = keys
        .iter()
        .map(|(other, kid)| {
            let pem = if *other { OTHER_KEY } else { PROVIDER_KEY };
            let mut jwk = Jwk::from_encoding_key(&encoding_key(pem), Algorithm::RS256).expect("jwk");
            jwk.common.key_id = Some((*kid).into());
            jwk
        })
        .collect();
    serde_json::to_value(JwkSet { keys }).unwrap()
}

/// Serves the JWKS at `route`, expecting exactly `times` fetches.
pub async fn serve_jwks(server: &MockServer, route: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path(route))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(jwks())
                .insert_header("cache-control", "public, max-age=3600"),
        )
        .expect(times)
        .mount(server)
        .await;
}

/// How to sign a test ID token.
pub struct Signing {
    pub kid: &'static str,
    pub other_key: bool,
}

pub const GOOD: Signing = Signing { kid: KID, other_key: false };

pub fn sign(claims: &Value, signing: &Signing) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(signing.kid.into());
    let key = encoding_key(if signing.other_key { OTHER_KEY } else { PROVIDER_KEY });
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Claims of a Google ID token for `sub`, valid for an hour.
pub fn google_claims(sub: &str, email: &str, verified: bool) -> Value {
    let now = portcullis::time::now();
    json!({
        "iss": "https://accounts.google.com",
        "aud": GOOGLE_WEB_ID,
        "azp": GOOGLE_WEB_ID,
        "sub": sub,
        "email": email,
        "email_verified": verified,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "iat": now,
        "exp": now + 3600,
    })
}

pub fn apple_claims(sub: &str, email: &str) -> Value {
    let now = portcullis::time::now();
    json!({
        "iss": "https://appleid.apple.com",
        "aud": APPLE_ID,
        "sub": sub,
        "email": email,
        "email_verified": "true",
        "iat": now,
        "exp": now + 3600,
    })
}

pub fn user_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    portcullis::store::schema::users::table.count().get_result(&mut app.db()).unwrap()
}

pub async fn facebook_says(social: &Social, token: &str, app_id: &str, me: Value) {
    Mock::given(method("GET"))
        .and(path("/facebook/debug_token"))
        .and(query_param("input_token", token))
        .and(query_param("access_token", format!("{FACEBOOK_APP_ID}|{FACEBOOK_SECRET}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "app_id": app_id, "is_valid": true, "user_id": me["id"], "expires_at": portcullis::time::now() + 3600 }
        })))
        .mount(&social.providers)
        .await;
    let mut mac = Hmac::<Sha256>::new_from_slice(FACEBOOK_SECRET.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    let proof = hex::encode(mac.finalize().into_bytes());
    Mock::given(method("GET"))
        .and(path("/facebook/me"))
        .and(query_param("access_token", token))
        .and(query_param("appsecret_proof", proof))
        .and(query_param("fields", "id,name,email,first_name,last_name"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me))
        .mount(&social.providers)
        .await;
}
