//! Discovery documents (RFC 8414), the published key set, and the API description.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::domain::GrantType;
use crate::state::AppState;

pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.settings.issuer;
    let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth/authorize"),
        "token_endpoint": format!("{issuer}/auth/token"),
        "revocation_endpoint": format!("{issuer}/auth/revoke-token"),
        "introspection_endpoint": format!("{issuer}/auth/introspect"),
        "userinfo_endpoint": format!("{issuer}/auth/userinfo"),
        "end_session_endpoint": format!("{issuer}/auth/logout"),
        "registration_endpoint": format!("{issuer}/auth/register"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": grants,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "scopes_supported": ["openid", "profile", "email", "read", "write", "admin"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "azp", "email",
            "email_verified", "name", "given_name", "family_name", "preferred_username", "updated_at",
        ],
        "prompt_values_supported": ["none", "login"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
    }))
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    // Short caching: a rotated-in key must reach resource servers well before it signs
    // most tokens, and they refetch on an unknown kid anyway.
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "public, max-age=300")).json(state.keys.jwks())
}

/// `docs/openapi.json`, compiled in: the document served is the one in the repository,
/// byte for byte, and `tests/api/openapi.rs` holds it and the routes to each other.
const OPENAPI: &str = include_str!("../../docs/openapi.json");

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type(header::ContentType::json()).body(OPENAPI)
}
