//! `POST /auth/introspect` (RFC 7662): is this token live, and whose is it?

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::auth::client::ClientCredentials;
use crate::auth::client_auth::Needs;
use crate::db;
use crate::domain::ClientType;
use crate::error::ApiError;
use crate::params::Params;
use crate::respond::no_store;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::users::User;
use crate::tokens::revocation::{self, FoundToken};

#[derive(Serialize, Default)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
}

pub async fn introspect(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client = ClientCredentials::required(&req, &params)?;
    let token = params.require("token")?.to_owned();
    let hint = params.get("token_type_hint").map(str::to_owned);
    let keys = state.keys.clone();
    let issuer = state.settings.issuer.clone();
    let clients = state.clients.clone();
    let answer = db::run(&state.pool, move |conn| {
        let caller = clients.authorize(conn, &client, &Needs::Authenticated)?;
        let now = crate::time::now();
        let Some(found) = revocation::find(conn, &keys, &token, hint.as_deref())? else {
            return Ok(Introspection::default());
        };
        // A public client may only ask about its own tokens; confidential clients act
        // as resource servers and may ask about any.
        if caller.client_type() == ClientType::Public && found.application_id() != caller.id {
            return Ok(Introspection::default());
        }
        let (user_id, live, scope, exp, iat, jti, token_type) = match &found {
            FoundToken::Access { record } => (
                record.user_id,
                record.revoked_at.is_none() && record.expires_at > now,
                record.scope.clone(),
                record.expires_at,
                record.created_at,
                Some(record.jti.clone()),
                "Bearer",
            ),
            FoundToken::Refresh(record) => (
                Some(record.user_id),
                record.revoked_at.is_none() && record.used_at.is_none() && record.expires_at > now,
                record.scope.clone(),
                record.expires_at,
                record.created_at,
                None,
                "refresh_token",
            ),
        };
        let user = match user_id {
            Some(id) => User::find(conn, id)?,
            None => None,
        };
        if !live || user.as_ref().is_some_and(|u| !u.is_active) {
            return Ok(Introspection::default());
        }
        // A resource server usually asks about its own tokens: no second lookup then.
        let client_id = if found.application_id() == caller.id {
            Some(caller.client_id.clone())
        } else {
            Application::find(conn, found.application_id())?.map(|a| a.client_id)
        };
        Ok(Introspection {
            active: true,
            scope: Some(scope),
            sub: user.as_ref().map(|u| u.id.to_string()).or_else(|| client_id.clone()),
            username: user.map(|u| u.username),
            client_id,
            exp: Some(exp),
            iat: Some(iat),
            iss: Some(issuer),
            jti,
            token_type: Some(token_type),
        })
    })
    .await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(answer))
}
