//! `/admin/api/social`: the provider identities linked to users, and unlinking one.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::staff::Staff;
use super::{audit_admin, numeric_id, Listing};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::social::SocialAccount;
use crate::store::Page;

#[derive(Deserialize)]
pub struct SocialQuery {
    user: Option<i64>,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// A link as the admin sees it: never the provider's tokens.
#[derive(Serialize)]
struct LinkView {
    id: i64,
    user_id: i64,
    provider: String,
    uid: String,
    created_at: i64,
}

pub async fn list(
    _staff: Staff,
    query: web::Query<SocialQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let SocialQuery { user, page, per_page } = query.into_inner();
    let (links, total) = crate::db::run(&state.pool, move |conn| {
        Ok(SocialAccount::page(conn, user, Page::new(page, per_page))?)
    })
    .await?;
    let items = links
        .into_iter()
        .map(|l| LinkView {
            id: l.id,
            user_id: l.user_id,
            provider: l.provider,
            uid: l.uid,
            created_at: l.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Listing { items, total }))
}

pub async fn unlink(
    staff: Staff,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = numeric_id(&id)?;
    state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                let link = SocialAccount::find_by_id(conn, id)?.ok_or(ApiError::NotFound)?;
                SocialAccount::delete(conn, link.id)?;
                let detail = format!("user {} {}", link.user_id, link.provider);
                audit_admin(conn, &staff, "social.unlink", "social_account", &link.id.to_string(), &detail)?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
