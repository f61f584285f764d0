//! HTTP routes, one file per endpoint family. Handlers read the request, call the
//! domain and store, and shape the response.

pub mod authorize;
pub mod disconnect;
pub mod discovery;
pub mod email;
pub mod health;
pub mod introspect;
pub mod openid;
pub mod provider_login;
pub mod revoke;
pub mod token;
pub mod users;

use actix_web::web;

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/auth")
            .service(post("/token", token::token))
            .service(
                web::resource("/authorize")
                    .route(web::get().to(authorize::show))
                    .route(web::post().to(authorize::submit))
                    .default_service(not_allowed("GET, POST")),
            )
            .service(
                web::resource("/logout")
                    .route(web::get().to(openid::end_session))
                    .route(web::post().to(authorize::logout))
                    .default_service(not_allowed("GET, POST")),
            )
            .service(
                web::resource("/userinfo")
                    .route(web::get().to(openid::userinfo))
                    .route(web::post().to(openid::userinfo))
                    .default_service(not_allowed("GET, POST")),
            )
            .service(post("/revoke-token", revoke::revoke_token))
            .service(post("/invalidate-sessions", revoke::invalidate_sessions))
            .service(post("/invalidate-refresh-tokens", revoke::invalidate_refresh_tokens))
            .service(post("/convert-token", token::convert_token))
            .service(post("/disconnect-backend", disconnect::disconnect_backend))
            .service(post("/introspect", introspect::introspect))
            .service(post("/register", users::register))
            .service(post("/password", users::change_password))
            .service(post("/password/reset", email::reset_request))
            .service(page_and_post("/password/reset/confirm", email::reset_form, email::reset_confirm))
            .service(post("/email", email::change_request))
            .service(page_and_post("/email/confirm", email::change_page, email::change_confirm))
            .service(post("/email/verify", email::verify_request))
            .service(page_and_post("/email/verify/confirm", email::verify_page, email::verify_confirm))
            .service(
                web::resource("/users").route(web::get().to(users::list)).default_service(not_allowed("GET")),
            )
            .service(me("/user"))
            .service(me("/me"))
            // Patterns with a parameter are matched by regex: after the plain paths.
            .service(
                web::resource("/login/{backend}")
                    .route(web::get().to(provider_login::start))
                    .default_service(not_allowed("GET")),
            )
            .service(
                web::resource("/complete/{backend}")
                    .route(web::get().to(provider_login::complete))
                    .default_service(not_allowed("GET")),
            ),
    )
    .service(get_or_head("/.well-known/oauth-authorization-server", discovery::metadata))
    .service(get_or_head("/.well-known/openid-configuration", discovery::metadata))
    .service(get_or_head("/.well-known/jwks.json", discovery::jwks))
    .service(get_or_head("/openapi.json", discovery::openapi))
    .service(get_or_head("/healthz", health::healthz))
    .service(get_or_head("/readyz", health::readyz))
    .service(get_or_head("/metrics", health::metrics));
}

/// A document for GET and HEAD: probes and monitors often send HEAD where a browser
/// sends GET, and actix answers HEAD without the body. Other methods: 405.
fn get_or_head<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let get_or_head = actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head());
    web::resource(path)
        .route(web::route().guard(get_or_head).to(handler))
        .default_service(not_allowed("GET, HEAD"))
}

/// A mailed link's path: GET shows a page (a person opened the link), POST answers JSON
/// (or the page's own form).
fn page_and_post<G, GArgs, P, PArgs>(path: &str, page: G, post: P) -> actix_web::Resource
where
    G: actix_web::Handler<GArgs>,
    GArgs: actix_web::FromRequest + 'static,
    G::Output: actix_web::Responder + 'static,
    P: actix_web::Handler<PArgs>,
    PArgs: actix_web::FromRequest + 'static,
    P::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(page))
        .route(web::post().to(post))
        .default_service(not_allowed("GET, POST"))
}

/// `/auth/user` and its alias: one plain path each, as a resource with two paths is
/// matched by regex.
fn me(path: &str) -> actix_web::Resource {
    web::resource(path)
        .route(web::get().to(users::me))
        .route(web::patch().to(users::update_me))
        .default_service(not_allowed("GET, PATCH"))
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A path that takes POST alone; any other method is 405 with `Allow: POST`.
fn post<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path).route(web::post().to(handler)).default_service(not_allowed("POST"))
}

/// 405 with the methods the path does take (RFC 9110 §15.5.6); the admin API's
/// resources answer with it too.
pub fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed { allow }) })
}
