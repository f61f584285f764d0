//! Who may use the admin API (SPEC §8): a staff user's Bearer token carrying scope
//! `admin`, or a signed-in staff browser whose unsafe requests carry the CSRF token in
//! `X-CSRF-Token`. No credentials: 401; credentials of anyone else: 403.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::bearer::{bearer_token, UserBearer};
use crate::auth::client_ip::client_ip_text;
use crate::browser::session::{cookie_name, Browser};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users::User;

pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The staff user behind an admin request, and where the request came from.
pub struct Staff {
    pub user: User,
    pub ip: String,
}

async fn staff(req: HttpRequest) -> Result<Staff, ApiError> {
    let state =
        req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::internal("state missing"))?.clone();
    let ip = client_ip_text(&req, &state.settings.trusted_proxies);
    if bearer_token(&req).is_some() {
        let bearer = UserBearer::extract(&req).await?;
        let has_admin = bearer.token.claims.scope.split_whitespace().any(|s| s == "admin");
        if !bearer.user.is_staff || !has_admin {
            return Err(ApiError::Forbidden(
                "The admin API needs a staff user's token with scope 'admin'.".into(),
            ));
        }
        return Ok(Staff { user: bearer.user, ip });
    }
    let secure = state.settings.secure_cookies();
    if req.cookie(cookie_name(secure)).is_none() {
        return Err(ApiError::InvalidToken("Sign in as a staff user, or send a Bearer token.".into()));
    }
    let browser = Browser::from_request(&req, secure);
    let Some(user) = session_user(&state, &browser).await? else {
        return Err(ApiError::InvalidToken("The session has ended; sign in again.".into()));
    };
    // Cookies ride along on cross-site requests; the token in a header cannot.
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !browser.csrf_matches(&state.secret_key, presented) {
            return Err(ApiError::Forbidden(format!("The {CSRF_HEADER} header is missing or wrong.")));
        }
    }
    if !user.is_staff {
        return Err(ApiError::Forbidden("Only staff users may use the admin API.".into()));
    }
    Ok(Staff { user, ip })
}

/// The active user the browser is signed in as; `None` for a browser without a session
/// (a cookie we just made up has none to look up).
pub async fn session_user(state: &AppState, browser: &Browser) -> Result<Option<User>, ApiError> {
    if browser.fresh {
        return Ok(None);
    }
    let token = browser.token.clone();
    db::run(&state.pool, move |conn| Ok(Browser { token, fresh: false }.user(conn)?)).await
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(staff(req.clone()))
    }
}
