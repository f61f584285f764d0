//! Fast fake Google and Facebook endpoints, so the convert scenarios measure the server
//! rather than the network. The server under test is configured to call them.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// A throwaway RSA key (the same one the HTTP tests use) that signs the bench's ID tokens.
const KEY: &[u8] = include_bytes!("../../tests/fixtures/provider_key.pem");
pub const KID: &str = "bench-key";

#[derive(Clone)]
pub struct FakeIds {
    pub google_client_id: String,
    pub facebook_app_id: String,
}

fn key() -> EncodingKey {
    EncodingKey::from_rsa_pem(KEY).expect("bench RSA key")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A Google ID token for `sub`, valid for an hour.
pub fn google_id_token(ids: &FakeIds, sub: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    let claims = json!({
        "iss": "https://accounts.google.com", "aud": ids.google_client_id, "sub": sub,
        "email": format!("{sub}@bench.example"), "email_verified": true,
        "given_name": "Bench", "family_name": "User", "iat": now(), "exp": now() + 3600,
    });
    jsonwebtoken::encode(&header, &claims, &key()).expect("sign")
}

fn jwks() -> Value {
    let mut jwk = Jwk::from_encoding_key(&key(), Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some(KID.into());
    serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("json")
}

fn query(req: &HttpRequest, name: &str) -> String {
    url_param(req.query_string(), name)
}

fn url_param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

/// Serves the fakes on `bind` from a thread of its own, for the life of the process.
pub fn start(bind: &str, ids: FakeIds) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(bind)?;
    std::thread::spawn(move || actix_web::rt::System::new().block_on(serve(listener, ids)));
    Ok(())
}

async fn serve(listener: std::net::TcpListener, ids: FakeIds) -> std::io::Result<()> {
    let jwks = jwks();
    HttpServer::new(move || {
        let ids = ids.clone();
        let jwks = jwks.clone();
        App::new()
            .route(
                "/google/certs",
                web::get().to(move || {
                    let jwks = jwks.clone();
                    async move { HttpResponse::Ok().insert_header(("cache-control", "public, max-age=3600")).json(jwks) }
                }),
            )
            .route("/google/tokeninfo", {
                let ids = ids.clone();
                web::get().to(move |req: HttpRequest| {
                    let token = query(&req, "access_token");
                    let body = json!({
                        "aud": ids.google_client_id, "azp": ids.google_client_id, "sub": format!("ga-{token}"),
                        "exp": (now() + 3600).to_string(), "email": format!("ga-{token}@bench.example"),
                        "email_verified": "true",
                    });
                    async move { HttpResponse::Ok().json(body) }
                })
            })
            .route(
                "/google/userinfo",
                web::get().to(|req: HttpRequest| {
                    let token = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .unwrap_or_default()
                        .to_owned();
                    async move {
                        HttpResponse::Ok().json(json!({
                            "sub": format!("ga-{token}"), "email": format!("ga-{token}@bench.example"),
                            "email_verified": true, "given_name": "Bench", "family_name": "User",
                        }))
                    }
                }),
            )
            .route("/facebook/debug_token", {
                let ids = ids.clone();
                web::get().to(move |req: HttpRequest| {
                    let token = query(&req, "input_token");
                    let body = json!({ "data": {
                        "app_id": ids.facebook_app_id, "is_valid": true, "user_id": format!("fb-{token}"),
                        "expires_at": now() + 3600,
                    }});
                    async move { HttpResponse::Ok().json(body) }
                })
            })
            .route(
                "/facebook/me",
                web::get().to(|req: HttpRequest| {
                    let token = query(&req, "access_token");
                    async move {
                        HttpResponse::Ok().json(json!({
                            "id": format!("fb-{token}"), "name": "Bench User", "first_name": "Bench",
                            "last_name": "User", "email": format!("fb-{token}@bench.example"),
                        }))
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)?
    .run()
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_parameters_are_found_by_name() {
        assert_eq!(super::url_param("a=1&input_token=xyz&b=2", "input_token"), "xyz");
        assert_eq!(super::url_param("a=1", "missing"), "");
    }
}
