//! `GET /admin/api/audit`: the audit log, newest first, optionally one action's events.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::staff::Staff;
use super::Listing;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit;
use crate::store::Page;

#[derive(Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

pub async fn list(
    _staff: Staff,
    query: web::Query<AuditQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuditQuery { action, page, per_page } = query.into_inner();
    // PostgreSQL cannot compare text with NUL in it, and no action has one.
    if action.as_deref().is_some_and(|a| a.contains('\0')) {
        return Err(ApiError::invalid_request("The action may not contain NUL characters."));
    }
    let (items, total) = crate::db::run(&state.pool, move |conn| {
        Ok(audit::page(conn, action.as_deref(), Page::new(page, per_page))?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Listing { items, total }))
}
