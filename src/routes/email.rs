//! The email flows (SPEC §12): JSON for API clients, and pages for the links in mail,
//! which a person opens in a browser. A form sent from those pages (a browser asks for
//! `text/html`) is answered with a page; any other client gets JSON.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::account::address_change::{self, ChangeRequest};
use crate::account::{reset, verification};
use crate::auth::bearer::UserBearer;
use crate::auth::client_ip::client_ip_text;
use crate::browser::pages::{self, Done, ResetForm};
use crate::error::ApiError;
use crate::params::{query_value, Params};
use crate::respond::no_store;
use crate::state::AppState;
use crate::store::users::{User, UserView};

fn accepted(detail: &str) -> HttpResponse {
    HttpResponse::Accepted().json(json!({ "detail": detail }))
}

fn wants_page(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn token_in_query(req: &HttpRequest) -> String {
    query_value(req.query_string(), "token").unwrap_or_default()
}

/// A refused link as a page: why, in the words of the error.
fn link_refused(error: ApiError) -> Result<HttpResponse, ApiError> {
    match error {
        ApiError::InvalidGrant(why) => {
            pages::error(StatusCode::BAD_REQUEST, "This link cannot be used", &why)
        }
        other => Err(other),
    }
}

fn done(heading: &str, message: &str) -> Result<HttpResponse, ApiError> {
    pages::render(StatusCode::OK, &Done { heading, message })
}

fn user_json(user: &User) -> HttpResponse {
    no_store(&mut HttpResponse::Ok()).json(UserView::from(user))
}

/// `POST /auth/password/reset`: 202 whether or not the address has an account.
pub async fn reset_request(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let email = params.require("email")?.to_owned();
    let client_id = params.get("client_id").map(str::to_owned);
    let address = client_ip_text(&req, &state.settings.trusted_proxies);
    reset::request(&state, &email, client_id, address).await?;
    Ok(accepted("If an account has this address, a mail with a link to reset its password is on its way."))
}

/// `GET /auth/password/reset/confirm?token=`: the form, if the link can still be used.
pub async fn reset_form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let token = token_in_query(&req);
    match reset::check(&state, token.clone()).await {
        Ok(user) => {
            let account = user.email.as_deref().unwrap_or(&user.username);
            pages::render(StatusCode::OK, &ResetForm { token: &token, account, problems: &[] })
        }
        Err(error) => link_refused(error),
    }
}

/// `POST /auth/password/reset/confirm` (`token`, `new_password`).
pub async fn reset_confirm(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = params.require("token")?.to_owned();
    let new_password = params.require("new_password")?.to_owned();
    let address = client_ip_text(&req, &state.settings.trusted_proxies);
    let outcome = reset::confirm(&state, token.clone(), &new_password, address).await;
    if !wants_page(&req) {
        outcome?;
        return Ok(no_store(&mut HttpResponse::Ok())
            .json(json!({ "detail": "The password was changed. Sign in with the new one." })));
    }
    match outcome {
        Ok(_) => done(
            "Your password was changed",
            "Sign in with the new password. Every device that was signed in has been signed out.",
        ),
        Err(ApiError::Validation(fields)) => {
            let problems: Vec<String> = fields.into_values().flatten().collect();
            let user = reset::check(&state, token.clone()).await;
            let account = match &user {
                Ok(user) => user.email.as_deref().unwrap_or(&user.username),
                Err(_) => "",
            };
            pages::render(StatusCode::BAD_REQUEST, &ResetForm { token: &token, account, problems: &problems })
        }
        Err(error) => link_refused(error),
    }
}

/// `POST /auth/email/verify` (Bearer): another verification mail.
pub async fn verify_request(
    bearer: UserBearer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    verification::request(&state, bearer.user, bearer.token.claims.client_id).await?;
    Ok(accepted("A mail with a link to verify the address is on its way."))
}

/// `GET /auth/email/verify/confirm?token=`: verifies, and says so on a page.
pub async fn verify_page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match verification::confirm(&state, token_in_query(&req)).await {
        Ok(user) => done(
            "Your address is verified",
            &format!(
                "{} is confirmed as your address. You can close this page.",
                user.email.unwrap_or_default()
            ),
        ),
        Err(error) => link_refused(error),
    }
}

/// `POST /auth/email/verify/confirm` (`token`): the verified user, as JSON.
pub async fn verify_confirm(params: Params, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = verification::confirm(&state, params.require("token")?.to_owned()).await?;
    Ok(user_json(&user))
}

/// `POST /auth/email` (Bearer, `new_email`, `password`): a confirmation link to the new address.
pub async fn change_request(
    req: HttpRequest,
    params: Params,
    bearer: UserBearer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let change = ChangeRequest {
        new_email: params.require("new_email")?.to_owned(),
        password: params.get("password").unwrap_or_default().to_owned(),
        client_id: bearer.token.claims.client_id.clone(),
        address: client_ip_text(&req, &state.settings.trusted_proxies),
    };
    address_change::request(&state, bearer.user, change).await?;
    Ok(accepted(
        "A mail with a link to confirm the new address is on its way; the address changes when it is opened.",
    ))
}

/// `GET /auth/email/confirm?token=`: applies the change, and says so on a page.
pub async fn change_page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match address_change::confirm(&state, token_in_query(&req)).await {
        Ok(user) => done(
            "Your address was changed",
            &format!("Your account's address is now {}.", user.email.unwrap_or_default()),
        ),
        Err(error) => link_refused(error),
    }
}

/// `POST /auth/email/confirm` (`token`): the changed user, as JSON.
pub async fn change_confirm(params: Params, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = address_change::confirm(&state, params.require("token")?.to_owned()).await?;
    Ok(user_json(&user))
}
