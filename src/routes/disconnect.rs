//! `POST /auth/disconnect-backend`: unlink a provider from the signed-in user.

use actix_web::{web, HttpResponse};

use crate::auth::bearer::UserBearer;
use crate::db;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use crate::store::social::SocialAccount;

/// `POST /auth/disconnect-backend`: unlink a provider, unless it is the last way in.
pub async fn disconnect_backend(
    params: Params,
    bearer: UserBearer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let backend = params.require("backend")?.to_owned();
    let association: Option<i64> = match params.get("association_id") {
        Some(raw) => {
            Some(raw.parse().map_err(|_| ApiError::invalid_request("association_id must be a number."))?)
        }
        None => None,
    };
    let user = bearer.user;
    state.writes.run(move |conn| {
        db::write_transaction(conn, |conn| {
            let links = SocialAccount::for_user(conn, user.id)?;
            let target = links
                .iter()
                .find(|l| l.provider == backend && association.is_none_or(|id| id == l.id))
                .ok_or_else(|| ApiError::invalid_request(format!("No '{backend}' link to disconnect.")))?;
            if user.password_hash.is_none() && links.len() == 1 {
                return Err(ApiError::invalid_request(
                    "This is the account's last way to sign in; set a password or link another provider first.",
                ));
            }
            SocialAccount::delete(conn, target.id)?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
