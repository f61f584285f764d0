//! Email/username and password at a sign-in page (the authorization endpoint's or the
//! admin console's): checked exactly as the password grant checks them (same throttle
//! counters, same dummy hash for unknown users), audited, and on success a new session.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::session::Browser;
use crate::auth::client_ip::client_ip_text;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit;
use crate::store::users::User;
use crate::throttle;

pub enum PasswordSignIn {
    /// Signed in on this new cookie; the caller sets it.
    SignedIn(Browser),
    /// Wrong credentials or a disabled account (which one is not said).
    Refused,
    /// Too many failures: the password was not even checked.
    Throttled { retry_after: i64 },
}

impl PasswordSignIn {
    pub fn message(&self) -> String {
        match self {
            Self::SignedIn(_) => String::new(),
            Self::Refused => "Those credentials are not correct, or the account is disabled.".into(),
            Self::Throttled { retry_after } => {
                let minutes = (retry_after.max(&1) + 59) / 60;
                format!("Too many failed sign-ins. Try again in {minutes} minute(s).")
            }
        }
    }

    /// A person at the page gets the page back with 400, or 429 and the wait, never
    /// the grant's JSON.
    pub fn mark(&self, response: &mut HttpResponse) {
        match self {
            Self::SignedIn(_) => {}
            Self::Refused => *response.status_mut() = StatusCode::BAD_REQUEST,
            Self::Throttled { retry_after } => {
                *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after.max(&1)));
            }
        }
    }
}

pub async fn check_password(
    req: &HttpRequest,
    state: &AppState,
    login: String,
    password: String,
) -> Result<PasswordSignIn, ApiError> {
    let address = client_ip_text(req, &state.settings.trusted_proxies);
    let user = {
        let login = login.clone();
        crate::db::run(&state.pool, move |conn| Ok(User::find_by_login(conn, &login)?)).await?
    };
    let judged = throttle::judge_password(state, login, user.as_ref(), password, address.clone()).await;
    let (checked, attempt) = match judged {
        Err(ApiError::RateLimited { retry_after }) => return Ok(PasswordSignIn::Throttled { retry_after }),
        other => other?,
    };
    state
        .writes
        .run(move |conn| {
            let verified = attempt.settle(conn, checked, &address)?;
            let Some(user) = user.filter(|u| verified && u.is_active) else {
                return Ok(PasswordSignIn::Refused);
            };
            conn.transaction(|conn| {
                User::touch_last_login(conn, user.id, crate::time::now())?;
                audit::browser_sign_in(conn, user.id, &address, "")?;
                Ok::<_, ApiError>(PasswordSignIn::SignedIn(Browser::sign_in(conn, user.id)?))
            })
        })
        .await
}
