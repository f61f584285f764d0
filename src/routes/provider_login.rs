//! `GET /auth/login/{backend}` and `GET /auth/complete/{backend}` (SPEC §6): the browser
//! signs in at Google or Facebook through us, then resumes its pending authorization
//! request, so the application receives an ordinary authorization code.
//!
//! The `state` sent to the provider is random, stored hashed with the browser's session
//! cookie and the pending request, and taken (single-use) when the provider sends the
//! browser back: a callback from another browser, a replayed or forged state, or a
//! provider error changes nothing and returns to the sign-in page with a message.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;

use crate::auth::client_ip::client_ip_text;
use crate::browser::pages;
use crate::browser::pages::{sign_in_page, Retry};
use crate::browser::prompt::satisfied;
use crate::browser::session::Browser;
use crate::db;
use crate::error::ApiError;
use crate::params::query_value;
use crate::providers::http::{self, AuthorizeRequest};
use crate::providers::{Credential, IdentityProvider, Profile};
use crate::respond::no_store;
use crate::social;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::audit;
use crate::store::browser::{NewProviderLogin, ProviderLogin};
use crate::tokens::random;

/// How long the browser may take at the provider.
const LOGIN_TTL_SECS: i64 = 600;

/// Where the provider sends the browser back; registered at the provider as is.
fn completion_uri(issuer: &str, backend: &str) -> String {
    format!("{}/auth/complete/{backend}", issuer.trim_end_matches('/'))
}

fn provider<'s>(state: &'s AppState, backend: &str) -> Option<&'s dyn IdentityProvider> {
    state.providers.get(backend).filter(|p| p.redirect_sign_in().is_some())
}

fn unknown_backend() -> Result<HttpResponse, ApiError> {
    pages::error(
        StatusCode::NOT_FOUND,
        "Unknown sign-in method",
        "This server cannot sign you in with that provider. Go back and choose another way to sign in.",
    )
}

/// `GET /auth/login/{backend}?<the pending authorization request>`.
pub async fn start(
    req: HttpRequest,
    backend: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(provider) = provider(&state, &backend) else { return unknown_backend() };
    let sign_in = provider.redirect_sign_in().expect("filtered on redirect_sign_in");
    let pending = req.query_string().to_owned();
    if query_value(&pending, "client_id").is_none() {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            "Start from the application you want to sign in to.",
        );
    }
    let browser = Browser::from_request(&req, state.settings.secure_cookies());
    let login_state = random::token(32);
    let verifier = sign_in.pkce.then(|| random::token(32));
    let nonce = sign_in.nonce.then(|| random::token(16));
    let location = http::authorize_url(&AuthorizeRequest {
        sign_in: &sign_in,
        redirect_uri: &completion_uri(&state.settings.issuer, &backend),
        state: &login_state,
        code_verifier: verifier.as_deref(),
        nonce: nonce.as_deref(),
    })?;
    let session_hash = random::sha256_hex(&browser.token);
    let backend = backend.into_inner();
    state
        .writes
        .run(move |conn| {
            let now = crate::time::now();
            ProviderLogin::insert(
                conn,
                &NewProviderLogin {
                    state_hash: &random::sha256_hex(&login_state),
                    session_hash: &session_hash,
                    backend: &backend,
                    code_verifier: verifier.as_deref(),
                    nonce: nonce.as_deref(),
                    pending: &pending,
                    created_at: now,
                    expires_at: now + LOGIN_TTL_SECS,
                },
            )?;
            Ok(())
        })
        .await?;
    let mut response =
        no_store(&mut HttpResponse::Found()).insert_header((header::LOCATION, location.as_str())).finish();
    if browser.fresh {
        response.add_cookie(&browser.cookie(state.settings.secure_cookies())).map_err(ApiError::internal)?;
    }
    Ok(response)
}

/// `GET /auth/complete/{backend}?code&state` (or `?error&state`).
pub async fn complete(
    req: HttpRequest,
    backend: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(provider) = provider(&state, &backend) else { return unknown_backend() };
    let label = provider.redirect_sign_in().map(|s| s.label).unwrap_or_default();
    let browser = Browser::from_request(&req, state.settings.secure_cookies());
    let query = req.query_string();
    let presented = query_value(query, "state");
    let session_hash = random::sha256_hex(&browser.token);
    let name = backend.clone();
    let found = state
        .writes
        .run(move |conn| {
            let now = crate::time::now();
            let taken = match presented {
                Some(value) => ProviderLogin::take(conn, &random::sha256_hex(&value))?,
                None => None,
            };
            // Only the browser that started it, back from the provider it went to, in time.
            let valid =
                taken.filter(|l| l.session_hash == session_hash && l.backend == name && l.expires_at >= now);
            Ok(match valid {
                Some(login) => Ok(login),
                None => Err(ProviderLogin::latest_for_session(conn, &session_hash, now)?.map(|l| l.pending)),
            })
        })
        .await?;
    let login = match found {
        Ok(login) => login,
        Err(pending) => {
            let message = format!(
                "The answer from {label} could not be matched to a sign-in started in this browser \
                 (it may have expired). Please try again."
            );
            return back_to_sign_in(&state, &browser, pending, &message).await;
        }
    };
    if let Some(error) = query_value(query, "error") {
        let detail = query_value(query, "error_description").or_else(|| query_value(query, "error_reason"));
        let message = match detail {
            Some(detail) => format!("{label} did not sign you in: {detail} ({error})."),
            None => format!("{label} did not sign you in ({error})."),
        };
        return back_to_sign_in(&state, &browser, Some(login.pending), &message).await;
    }
    let Some(code) = query_value(query, "code") else {
        let message = format!("{label} sent you back without signing you in. Please try again.");
        return back_to_sign_in(&state, &browser, Some(login.pending), &message).await;
    };
    let redirect_uri = completion_uri(&state.settings.issuer, &backend);
    let credential = Credential::Code {
        code: &code,
        redirect_uri: &redirect_uri,
        code_verifier: login.code_verifier.as_deref(),
    };
    let profile = match provider.verify(credential, login.nonce.as_deref()).await.and_then(Profile::checked) {
        Ok(profile) => profile,
        Err(error) => {
            tracing::warn!(backend = %backend, %error, "provider sign-in failed");
            let message = format!("Signing in with {label} did not work: {error}");
            return back_to_sign_in(&state, &browser, Some(login.pending), &message).await;
        }
    };
    let signed_in =
        sign_in_with(&state, profile, client_ip_text(&req, &state.settings.trusted_proxies)).await;
    match signed_in {
        Ok(browser) => {
            let mut response = no_store(&mut HttpResponse::SeeOther())
                // The provider's sign-in is the one the request's prompt=login asked for.
                .insert_header((header::LOCATION, format!("/auth/authorize?{}", satisfied(&login.pending))))
                .finish();
            response
                .add_cookie(&browser.cookie(state.settings.secure_cookies()))
                .map_err(ApiError::internal)?;
            Ok(response)
        }
        // Linking refused (an unverified email owned by another account, a disabled user).
        Err(ApiError::InvalidGrant(message)) => {
            back_to_sign_in(&state, &browser, Some(login.pending), &message).await
        }
        Err(other) => Err(other),
    }
}

/// Links or creates the user, keeps the provider's refresh token sealed, and signs the
/// browser in on a new cookie: all in one transaction, so a refusal leaves nothing.
async fn sign_in_with(
    state: &AppState,
    profile: crate::providers::Profile,
    address: String,
) -> Result<Browser, ApiError> {
    let secret: &SecretString = &state.secret_key;
    let sealed = social::seal_refresh_token(secret, &profile);
    state
        .writes
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let user = social::sign_in(conn, &profile, sealed.as_deref())?;
                audit::browser_sign_in(conn, user.id, &address, profile.provider)?;
                Ok(Browser::sign_in(conn, user.id)?)
            })
        })
        .await
}

/// The sign-in page of the pending request with `message`; the error page when there is
/// no request to return to.
async fn back_to_sign_in(
    state: &AppState,
    browser: &Browser,
    pending: Option<String>,
    message: &str,
) -> Result<HttpResponse, ApiError> {
    let Some(pending) = pending else {
        return pages::error(StatusCode::BAD_REQUEST, "Sign-in did not complete", message);
    };
    let client_id = query_value(&pending, "client_id").unwrap_or_default();
    let app = db::run(&state.pool, move |conn| Ok(Application::find_by_client_id(conn, &client_id)?)).await?;
    let app_name = app.as_ref().map(|a| a.name.as_str()).unwrap_or_default();
    sign_in_page(state, browser, app_name, &pending, Some(Retry { message, username: "" }))
}
