//! Ending sessions: revoke-token (RFC 7009 and drf-social-oauth2 forms),
//! invalidate-sessions and invalidate-refresh-tokens.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::bearer::{bearer_token, UserBearer};
use crate::auth::client::ClientCredentials;
use crate::auth::client_auth::Needs;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use crate::store::tokens::revoke;
use crate::tokens::revocation::{self, FoundToken};

pub async fn revoke_token(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let keys = state.keys.clone();
    if let Some(token) = params.get("token").map(str::to_owned) {
        // RFC 7009: the client authenticates; unknown tokens and other clients' tokens
        // are answered 200 like any other, so the endpoint reveals nothing.
        let client = ClientCredentials::required(&req, &params)?;
        let hint = params.get("token_type_hint").map(str::to_owned);
        let clients = state.clients.clone();
        state
            .writes
            .run(move |conn| {
                let app = clients.authorize(conn, &client, &Needs::Authenticated)?;
                match revocation::find(conn, &keys, &token, hint.as_deref())? {
                    Some(found) if found.application_id() == app.id => match found {
                        FoundToken::Access { record, .. } => revocation::revoke_access(conn, &record, false),
                        FoundToken::Refresh(record) => revocation::revoke_refresh(conn, &record),
                    },
                    _ => Ok(()),
                }
            })
            .await?;
        return Ok(HttpResponse::Ok().finish());
    }
    // drf-social-oauth2: the Bearer access token and its refresh token.
    let token = bearer_token(&req)
        .ok_or_else(|| {
            ApiError::invalid_request("Send 'token' (RFC 7009) or an Authorization: Bearer header.")
        })?
        .to_owned();
    let client = ClientCredentials::required(&req, &params)?;
    let clients = state.clients.clone();
    state
        .writes
        .run(move |conn| {
            let app = clients.authorize(conn, &client, &Needs::Known)?;
            if let Some(FoundToken::Access { record, .. }) =
                revocation::find(conn, &keys, &token, Some("access_token"))?
            {
                if record.application_id == app.id {
                    revocation::revoke_access(conn, &record, true)?;
                }
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn invalidate(
    req: HttpRequest,
    params: Params,
    bearer: UserBearer,
    state: &AppState,
    access_too: bool,
) -> Result<HttpResponse, ApiError> {
    let user_id = bearer.user.id;
    let client = ClientCredentials::required(&req, &params)?;
    let clients = state.clients.clone();
    state
        .writes
        .run(move |conn| {
            let app = clients.authorize(conn, &client, &Needs::Known)?;
            conn.transaction(|conn| {
                revoke::user_application(conn, user_id, app.id, access_too, crate::time::now())
            })?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn invalidate_sessions(
    req: HttpRequest,
    params: Params,
    bearer: UserBearer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    invalidate(req, params, bearer, &state, true).await
}

pub async fn invalidate_refresh_tokens(
    req: HttpRequest,
    params: Params,
    bearer: UserBearer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    invalidate(req, params, bearer, &state, false).await
}
