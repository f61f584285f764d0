//! HTTP routes, one file per endpoint family. Handlers read the request, call the
//! domain and store, and shape the response.

pub mod authorize;
pub mod disconnect;
pub mod discovery;
pub mod health;
pub mod introspect;
pub mod provider_login;
pub mod revoke;
pub mod token;
pub mod users;

use actix_web::web;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/auth")
            .route("/token", web::post().to(token::token))
            .service(
                web::resource("/authorize")
                    .route(web::get().to(authorize::show))
                    .route(web::post().to(authorize::submit))
                    .default_service(web::to(method_not_allowed)),
            )
            .route("/logout", web::post().to(authorize::logout))
            .route("/revoke-token", web::post().to(revoke::revoke_token))
            .route("/invalidate-sessions", web::post().to(revoke::invalidate_sessions))
            .route("/invalidate-refresh-tokens", web::post().to(revoke::invalidate_refresh_tokens))
            .route("/convert-token", web::post().to(token::convert_token))
            .route("/disconnect-backend", web::post().to(disconnect::disconnect_backend))
            .route("/introspect", web::post().to(introspect::introspect))
            .route("/register", web::post().to(users::register))
            .route("/password", web::post().to(users::change_password))
            .route("/users", web::get().to(users::list))
            .service(me("/user"))
            .service(me("/me"))
            // Patterns with a parameter are matched by regex: after the plain paths.
            .route("/login/{backend}", web::get().to(provider_login::start))
            .route("/complete/{backend}", web::get().to(provider_login::complete)),
    )
    .route("/.well-known/oauth-authorization-server", get_or_head().to(discovery::metadata))
    .route("/.well-known/openid-configuration", get_or_head().to(discovery::metadata))
    .route("/.well-known/jwks.json", get_or_head().to(discovery::jwks))
    .route("/healthz", get_or_head().to(health::healthz))
    .route("/readyz", get_or_head().to(health::readyz))
    .route("/metrics", get_or_head().to(health::metrics));
}

/// Probes and monitors often send HEAD where a browser sends GET; actix answers HEAD
/// without the body.
fn get_or_head() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// `/auth/user` and its alias: one plain path each, as a resource with two paths is
/// matched by regex.
fn me(path: &str) -> actix_web::Resource {
    web::resource(path)
        .route(web::get().to(users::me))
        .route(web::patch().to(users::update_me))
        .default_service(web::to(method_not_allowed))
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}
