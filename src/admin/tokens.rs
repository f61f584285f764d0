//! `/admin/api/tokens`: the live tokens of a user or an application, and revoking one.
//! Ids name the table: `refresh-12` (revoking it ends its whole sign-in, the family) or
//! `access-34` (that access token alone).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::staff::Staff;
use super::{audit_admin, Listing};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::admin_tokens::{self, LiveToken, TokenFilter};
use crate::store::applications::Application;
use crate::store::tokens::{revoke, AccessRecord, RefreshRecord};
use crate::store::Page;

#[derive(Deserialize)]
pub struct TokenQuery {
    user: Option<i64>,
    client_id: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

#[derive(Serialize)]
struct TokenView {
    id: String,
    kind: &'static str,
    user_id: Option<i64>,
    user_email: Option<String>,
    client_id: String,
    family_id: Option<String>,
    scope: String,
    created_at: i64,
    expires_at: i64,
}

impl From<LiveToken> for TokenView {
    fn from(t: LiveToken) -> Self {
        Self {
            id: format!("{}-{}", t.kind, t.id),
            kind: t.kind,
            user_id: t.user_id,
            user_email: t.user_email,
            client_id: t.client_id,
            family_id: t.family_id,
            scope: t.scope,
            created_at: t.created_at,
            expires_at: t.expires_at,
        }
    }
}

pub async fn list(
    _staff: Staff,
    query: web::Query<TokenQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let TokenQuery { user, client_id, page, per_page } = query.into_inner();
    let page = Page::new(page, per_page);
    let listing = crate::db::run(&state.pool, move |conn| {
        let application_id = match client_id {
            Some(id) => match Application::find_by_client_id(conn, &id)? {
                Some(app) => Some(app.id),
                // An unknown application holds no tokens.
                None => return Ok(Listing { items: Vec::new(), total: 0 }),
            },
            None => None,
        };
        let filter = TokenFilter { user_id: user, application_id, now: crate::time::now() };
        let (items, total) = admin_tokens::live(conn, &filter, page)?;
        Ok(Listing { items: items.into_iter().map(TokenView::from).collect(), total })
    })
    .await?;
    Ok(HttpResponse::Ok().json(listing))
}

enum TokenId {
    Refresh(i64),
    Access(i64),
}

fn parse_id(raw: &str) -> Result<TokenId, ApiError> {
    let (kind, number) = raw.split_once('-').ok_or(ApiError::NotFound)?;
    let number: i64 = number.parse().map_err(|_| ApiError::NotFound)?;
    match kind {
        "refresh" => Ok(TokenId::Refresh(number)),
        "access" => Ok(TokenId::Access(number)),
        _ => Err(ApiError::NotFound),
    }
}

pub async fn revoke(
    staff: Staff,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let raw = id.into_inner();
    let id = parse_id(&raw)?;
    state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                let now = crate::time::now();
                match id {
                    TokenId::Refresh(id) => {
                        let record = RefreshRecord::find(conn, id)?.ok_or(ApiError::NotFound)?;
                        revoke::family(conn, &record.family_id, now)?;
                        audit_admin(conn, &staff, "token.revoke", "refresh_family", &record.family_id, &raw)?;
                    }
                    TokenId::Access(id) => {
                        let record = AccessRecord::find(conn, id)?.ok_or(ApiError::NotFound)?;
                        revoke::access_by_id(conn, record.id, now)?;
                        audit_admin(conn, &staff, "token.revoke", "access_token", &record.jti, &raw)?;
                    }
                }
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
