//! The admin JSON API under `/admin/api/` (SPEC §8). Every route takes the `Staff`
//! extractor; every change writes its audit event in the same transaction.

pub mod applications;
pub mod audit_log;
pub mod console;
pub mod social;
pub mod staff;
pub mod stats;
pub mod tokens;
pub mod users;

use actix_web::web;
use serde::{Deserialize, Serialize};

use crate::db::Writer;
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::not_allowed;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::Page;
use staff::Staff;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/api")
            .service(
                web::resource("/applications")
                    .route(web::get().to(applications::list))
                    .route(web::post().to(applications::create))
                    .default_service(not_allowed("GET, POST")),
            )
            .service(
                web::resource("/applications/{client_id}")
                    .route(web::get().to(applications::show))
                    .route(web::patch().to(applications::update))
                    .route(web::delete().to(applications::delete))
                    .default_service(not_allowed("GET, PATCH, DELETE")),
            )
            .service(
                web::resource("/applications/{client_id}/rotate-secret")
                    .route(web::post().to(applications::rotate_secret))
                    .default_service(not_allowed("POST")),
            )
            .service(one("/users", web::get().to(users::list), "GET"))
            .service(one("/users/{id}", web::patch().to(users::update), "PATCH"))
            .service(one("/users/{id}/password-reset", web::post().to(users::send_password_reset), "POST"))
            .service(one("/tokens", web::get().to(tokens::list), "GET"))
            .service(one("/tokens/{id}", web::delete().to(tokens::revoke), "DELETE"))
            .service(one("/social", web::get().to(social::list), "GET"))
            .service(one("/social/{id}", web::delete().to(social::unlink), "DELETE"))
            .service(one("/audit", web::get().to(audit_log::list), "GET"))
            .service(one("/stats", web::get().to(stats::show), "GET")),
    );
    cfg.service(
        web::scope("/admin")
            .route("", web::get().to(console::index))
            .route("/", web::get().to(console::index))
            .route("/login", web::get().to(console::login_form))
            .route("/login", web::post().to(console::login))
            .route("/logout", web::post().to(console::logout))
            .route("/assets/{file}", web::get().to(console::asset)),
    );
}

/// A path that takes one method; any other is 405 with `Allow: <allow>`.
fn one(path: &str, route: actix_web::Route, allow: &'static str) -> actix_web::Resource {
    web::resource(path).route(route).default_service(not_allowed(allow))
}

/// `{"items": [...], "total": N}`, every listing's shape.
#[derive(Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: i64,
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> Page {
        Page::new(self.page, self.per_page)
    }
}

/// A list given as a JSON array (joined by `Params`) or as a space- or comma-separated
/// string; present but empty means the empty list.
pub fn list_param(params: &Params, key: &str) -> Option<Vec<String>> {
    split_param(params, key, &[' ', ',', '\n'])
}

/// A list of URIs: split on whitespace only, since a comma is legal inside a URI (a
/// JSON array's items are joined with spaces, so `["https://a/cb?x=1,2"]` stays one).
pub fn uri_list_param(params: &Params, key: &str) -> Option<Vec<String>> {
    split_param(params, key, &[' ', '\n'])
}

fn split_param(params: &Params, key: &str, separators: &[char]) -> Option<Vec<String>> {
    params.raw(key).map(|raw| {
        raw.split(separators).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    })
}

/// A boolean given as JSON `true`/`false` or as a form's `true`, `1`, `on`, `false`, `0`.
pub fn flag(params: &Params, key: &str) -> Result<Option<bool>, ApiError> {
    match params.get(key).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("true" | "1" | "on" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "off" | "no") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_request(format!("'{key}' must be true or false."))),
    }
}

/// Records an admin action by `staff`; call it inside the change's transaction.
pub fn audit_admin(
    conn: &mut Writer<'_>,
    staff: &Staff,
    action: &str,
    target_type: &str,
    target_id: &str,
    detail: &str,
) -> Result<(), ApiError> {
    audit::record(
        conn,
        NewAuditEvent {
            actor_user_id: Some(staff.user.id),
            action,
            target_type,
            target_id,
            ip: Some(&staff.ip),
            detail,
            ..Default::default()
        },
    )?;
    Ok(())
}

/// A numeric path id, or 404 (a malformed id names nothing).
pub fn numeric_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}
