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
use crate::store::tokens::AccessRecord;
use crate::store::users::User;
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
    let (bearer, user, ()) = authenticate_then(req, |_, _| Ok(())).await?;
    Ok((bearer, user))
}

/// A live user token, and what `then` read for that user in the same trip to the
/// database (a route that always needs more saves a hand-off to the blocking pool).
pub async fn user_bearer_then<T, F>(req: &HttpRequest, then: F) -> Result<(UserBearer, T), ApiError>
where
    F: FnOnce(&mut DbConnection, &User) -> diesel::QueryResult<T> + Send + 'static,
    T: Send + 'static,
{
    let (token, user, extra) = authenticate_then(req.clone(), move |conn, user| match user {
        Some(user) => then(conn, user).map(Some),
        None => Ok(None),
    })
    .await?;
    match (user, extra) {
        (Some(user), Some(extra)) => Ok((UserBearer { token, user }, extra)),
        _ => Err(ApiError::Forbidden("This token was issued to a client, not a user.".into())),
    }
}

async fn authenticate_then<T, F>(req: HttpRequest, then: F) -> Result<(Bearer, Option<User>, T), ApiError>
where
    F: FnOnce(&mut DbConnection, Option<&User>) -> diesel::QueryResult<T> + Send + 'static,
    T: Send + 'static,
{
    let state =
        req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::internal("state missing"))?.clone();
    let token =
        bearer_token(&req).ok_or_else(|| ApiError::InvalidToken("An access token is required.".into()))?;
    let claims = state.keys.verify_fresh(&state.pool, token, false).await.map_err(|e| {
        ApiError::InvalidToken(match e {
            VerifyError::Expired => "The access token has expired.".into(),
            other => format!("The access token is invalid: {other}."),
        })
    })?;
    let jti = claims.jti.clone();
    let (found, extra) = db::run(&state.pool, move |conn| {
        let found = AccessRecord::find_with_user(conn, &jti)?;
        let extra = match &found {
            Some((record, user))
                if record.revoked_at.is_none() && user.as_ref().is_none_or(|u| u.is_active) =>
            {
                Some(then(conn, user.as_ref())?)
            }
            _ => None,
        };
        Ok((found, extra))
    })
    .await?;
    let (record, user) = match found {
        Some((record, user)) => (Some(record), user),
        None => (None, None),
    };
    let record = record
        .filter(|r| r.revoked_at.is_none())
        .ok_or_else(|| ApiError::InvalidToken("The access token has been revoked.".into()))?;
    if user.as_ref().is_some_and(|u| !u.is_active) {
        return Err(ApiError::InvalidToken("The user account is disabled.".into()));
    }
    // `then` ran: the record is live and its user (if any) active, as checked above.
    let extra = extra.ok_or_else(|| ApiError::internal("bearer check and lookup disagree"))?;
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
