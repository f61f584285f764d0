//! The Bearer-token extractor every resource route shares: signature and expiry via
//! the key set, then revocation via the token's record.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::social::SocialAccount;
use crate::store::tokens::AccessRecord;
use crate::store::users::User;
use crate::tokens::imported;
use crate::tokens::keys::VerifyError;
use crate::tokens::AccessClaims;

/// A live access token.
pub struct Bearer {
    pub claims: AccessClaims,
    pub record: AccessRecord,
}

/// A live access token held by an active user (not a client acting for itself).
pub struct UserBearer {
    pub token: Bearer,
    pub user: User,
}

/// The raw token from `Authorization: Bearer`, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

async fn authenticate(req: HttpRequest) -> Result<(Bearer, Option<User>), ApiError> {
    let (bearer, user, ()) = authenticate_with(req, |conn, jti| {
        Ok(AccessRecord::find_with_user(conn, jti)?.map(|(record, user)| (record, user, ())))
    })
    .await?;
    Ok((bearer, user))
}

/// A live user token and the user's social links, read in one query.
pub async fn user_bearer_with_links(req: &HttpRequest) -> Result<(UserBearer, Vec<SocialAccount>), ApiError> {
    let (token, user, links) = authenticate_with(req.clone(), AccessRecord::find_with_user_and_links).await?;
    let user =
        user.ok_or_else(|| ApiError::Forbidden("This token was issued to a client, not a user.".into()))?;
    Ok((UserBearer { token, user }, links))
}

/// Checks the signature and expiry in memory, then lets `lookup` read the token's
/// record, its user and whatever else the route needs in one trip to the pool. A token
/// that is not a JWT can only be an imported one (`tokens::imported`): its record is
/// looked up by hash and says what the signature would have.
async fn authenticate_with<T, F>(req: HttpRequest, lookup: F) -> Result<(Bearer, Option<User>, T), ApiError>
where
    F: FnOnce(&mut DbConnection, &str) -> diesel::QueryResult<Option<(AccessRecord, Option<User>, T)>>
        + Send
        + 'static,
    T: Send + 'static,
{
    let state =
        req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::internal("state missing"))?.clone();
    let token =
        bearer_token(&req).ok_or_else(|| ApiError::InvalidToken("An access token is required.".into()))?;
    // Refusing an opaque token costs one indexed read, where a malformed JWT is refused
    // in memory: the price of accepting imported tokens, as for an unknown refresh token.
    let (claims, found) = if !crate::domain::looks_like_jwt(token) {
        let jti = imported::access_jti(token);
        let issuer = state.settings.issuer.clone();
        let found = db::run(&state.pool, move |conn| {
            let Some(found) = lookup(conn, &jti)? else { return Ok(None) };
            let client_id = Application::find(conn, found.0.application_id)?.map(|app| app.client_id);
            Ok(Some((imported::claims(&found.0, &issuer, client_id.unwrap_or_default()), found)))
        })
        .await?;
        let (claims, found) =
            found.ok_or_else(|| ApiError::InvalidToken("The access token is invalid.".into()))?;
        if claims.exp <= crate::time::now() {
            return Err(ApiError::InvalidToken("The access token has expired.".into()));
        }
        (claims, Some(found))
    } else {
        let claims = state.keys.verify_fresh(&state.pool, token, false).await.map_err(|e| {
            ApiError::InvalidToken(match e {
                VerifyError::Expired => "The access token has expired.".into(),
                other => format!("The access token is invalid: {other}."),
            })
        })?;
        let jti = claims.jti.clone();
        let found = db::run(&state.pool, move |conn| Ok(lookup(conn, &jti)?)).await?;
        (claims, found)
    };
    let (record, user, extra) = found
        .filter(|(record, _, _)| record.revoked_at.is_none())
        .ok_or_else(|| ApiError::InvalidToken("The access token has been revoked.".into()))?;
    if user.as_ref().is_some_and(|u| !u.is_active) {
        return Err(ApiError::InvalidToken("The user account is disabled.".into()));
    }
    Ok((Bearer { claims, record }, user, extra))
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(|(bearer, _)| bearer) })
    }
}

impl FromRequest for UserBearer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (token, user) = authenticate(req).await?;
            let user = user.ok_or_else(|| {
                ApiError::Forbidden("This token was issued to a client, not a user.".into())
            })?;
            Ok(UserBearer { token, user })
        })
    }
}
