//! `/admin/api/users`: search, activate/deactivate, staff flag, a password-reset mail.
//! Deactivating revokes every token the user holds in the same transaction.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::staff::Staff;
use super::{audit_admin, flag, numeric_id, Listing};
use crate::account::reset;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use crate::store::tokens::revoke;
use crate::store::users::{User, UserView};
use crate::store::Page;

#[derive(Deserialize)]
pub struct UserQuery {
    q: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

pub async fn list(
    _staff: Staff,
    query: web::Query<UserQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let UserQuery { q, page, per_page } = query.into_inner();
    if q.as_deref().is_some_and(|q| q.contains('\0')) {
        return Err(ApiError::invalid_request("The query may not contain NUL characters."));
    }
    let (users, total) = crate::db::run(&state.pool, move |conn| {
        Ok(User::search(conn, q.as_deref(), Page::new(page, per_page))?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Listing { items: users.iter().map(UserView::from).collect(), total }))
}

/// PATCH `is_active` and/or `is_staff`. A staff user cannot lock themselves out.
pub async fn update(
    staff: Staff,
    id: web::Path<String>,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = numeric_id(&id)?;
    let active = flag(&params, "is_active")?;
    let is_staff = flag(&params, "is_staff")?;
    if active.is_none() && is_staff.is_none() {
        return Err(ApiError::invalid_request("Send 'is_active' and/or 'is_staff'."));
    }
    if id == staff.user.id && (active == Some(false) || is_staff == Some(false)) {
        return Err(ApiError::invalid_request("You cannot deactivate or demote yourself."));
    }
    let user = state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                let user = User::find(conn, id)?.ok_or(ApiError::NotFound)?;
                let target = user.id.to_string();
                if let Some(active) = active.filter(|a| *a != user.is_active) {
                    User::set_active(conn, user.id, active)?;
                    if !active {
                        revoke::user_families_except(conn, user.id, None, crate::time::now())?;
                    }
                    let action = if active { "user.activate" } else { "user.deactivate" };
                    audit_admin(conn, &staff, action, "user", &target, "")?;
                }
                if let Some(is_staff) = is_staff.filter(|s| *s != user.is_staff) {
                    User::set_staff(conn, user.id, is_staff)?;
                    let action = if is_staff { "user.grant_staff" } else { "user.revoke_staff" };
                    audit_admin(conn, &staff, action, "user", &target, "")?;
                }
                User::find(conn, id)?.ok_or(ApiError::NotFound)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// `POST /admin/api/users/{id}/password-reset`: mails the user a reset link (replacing any
/// earlier one), audited. Staff may send it whatever the hourly cap says; 400 for a user
/// without an address or disabled.
pub async fn send_password_reset(
    staff: Staff,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = numeric_id(&id)?;
    let public_url = state.settings.mail.public_url.clone();
    let (user, mail) = state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                let user = User::find(conn, id)?.ok_or(ApiError::NotFound)?;
                if !user.is_active {
                    return Err(ApiError::invalid_request("The user is disabled; activate it first."));
                }
                let Some(mail) = reset::mail_link(conn, &user, None, &public_url)? else {
                    return Err(ApiError::invalid_request("The user has no email address."));
                };
                audit_admin(conn, &staff, "user.send_password_reset", "user", &user.id.to_string(), "")?;
                Ok((user, mail))
            })
        })
        .await?;
    state.mailer.send(mail);
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "detail": "A password-reset mail is on its way.",
        "user": UserView::from(&user),
    })))
}
