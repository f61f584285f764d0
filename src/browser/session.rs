//! The browser's cookie, the sign-in session it may carry, and CSRF tokens bound to it.
//!
//! Every browser that reaches a page gets a random cookie; signing in stores the
//! SHA-256 of a new cookie value (a fresh value, so a cookie planted before sign-in is
//! worth nothing after it). A form's CSRF token is an HMAC of the cookie under the
//! server secret: a page from another site can make the browser send the cookie, but
//! cannot read the token to put in the form.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::db::{DbConnection, Writer};
use crate::params::Params;
use crate::state::AppState;
use crate::store::browser::{self, NewSession};
use crate::store::users::User;
use crate::tokens::random;

/// The cookie's name over plain HTTP (development).
const PLAIN_COOKIE: &str = "portcullis_session";
/// The cookie's name under an https issuer. Browsers accept a `__Host-` cookie only
/// from the host itself (Secure, no Domain, Path=/), so a sibling subdomain cannot
/// plant one and know the CSRF token of the sign-in form.
const HOST_COOKIE: &str = "__Host-portcullis_session";

pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        HOST_COOKIE
    } else {
        PLAIN_COOKIE
    }
}
/// A browser stays signed in this long (then signs in again).
pub const SESSION_TTL_SECS: i64 = 14 * 24 * 3600;

/// The cookie value a request carries, or a new one to set.
pub struct Browser {
    pub token: String,
    /// True when the response must set the cookie.
    pub fresh: bool,
}

impl Browser {
    /// `secure` as `Settings::secure_cookies`: only that cookie name is read.
    pub fn from_request(req: &HttpRequest, secure: bool) -> Self {
        match req.cookie(cookie_name(secure)).map(|c| c.value().to_owned()).filter(|v| well_formed(v)) {
            Some(token) => Self { token, fresh: false },
            None => Self::new_cookie(),
        }
    }

    /// The browser that sent a form from one of our pages, or `None` when the form
    /// lacks the CSRF token of this browser's cookie (answer `pages::expired_form`).
    pub fn from_form(req: &HttpRequest, state: &AppState, params: &Params) -> Option<Self> {
        let browser = Self::from_request(req, state.settings.secure_cookies());
        browser.sent_form(&state.secret_key, params.get("csrf_token")).then_some(browser)
    }

    pub fn new_cookie() -> Self {
        Self { token: random::token(32), fresh: true }
    }

    pub fn cookie(&self, secure: bool) -> Cookie<'static> {
        Cookie::build(cookie_name(secure), self.token.clone())
            // The admin console under /admin/ shares the sign-in.
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .max_age(actix_web::cookie::time::Duration::seconds(SESSION_TTL_SECS))
            .finish()
    }

    pub fn csrf_token(&self, secret: &SecretString) -> String {
        hex::encode(self.mac(secret).finalize().into_bytes())
    }

    /// A form came from one of our pages in this browser: it carries the CSRF token of
    /// a cookie the browser already had.
    fn sent_form(&self, secret: &SecretString, csrf_token: Option<&str>) -> bool {
        !self.fresh && csrf_token.is_some_and(|t| self.csrf_matches(secret, t))
    }

    pub fn csrf_matches(&self, secret: &SecretString, presented: &str) -> bool {
        let Ok(presented) = hex::decode(presented) else { return false };
        self.mac(secret).finalize().into_bytes().ct_eq(presented.as_slice()).into()
    }

    fn mac(&self, secret: &SecretString) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"csrf:");
        mac.update(self.token.as_bytes());
        mac
    }

    /// The active user this browser is signed in as.
    pub fn user(&self, conn: &mut DbConnection) -> diesel::QueryResult<Option<User>> {
        Ok(self.signed_in(conn)?.map(|(user, _)| user))
    }

    /// The signed-in user and when they signed in (an ID token's `auth_time`, `max_age`).
    pub fn signed_in(&self, conn: &mut DbConnection) -> diesel::QueryResult<Option<(User, i64)>> {
        let now = crate::time::now();
        let Some((user_id, since)) = browser::session_user(conn, &random::sha256_hex(&self.token), now)?
        else {
            return Ok(None);
        };
        Ok(User::find(conn, user_id)?.filter(|u| u.is_active).map(|user| (user, since)))
    }

    /// Ends the session this cookie carries, if any.
    pub fn sign_out(&self, conn: &mut Writer<'_>) -> diesel::QueryResult<usize> {
        browser::end_session(conn, &random::sha256_hex(&self.token))
    }

    /// Signs `user_id` in on a new cookie value; the caller sets the returned cookie.
    pub fn sign_in(conn: &mut Writer<'_>, user_id: i64) -> diesel::QueryResult<Browser> {
        let browser = Browser::new_cookie();
        let now = crate::time::now();
        browser::create_session(
            conn,
            &NewSession {
                token_hash: &random::sha256_hex(&browser.token),
                user_id,
                created_at: now,
                expires_at: now + SESSION_TTL_SECS,
            },
        )?;
        Ok(browser)
    }
}

fn well_formed(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
