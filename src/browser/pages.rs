//! The server-rendered pages (templates in `src/browser/templates`, HTML-escaped by
//! askama). Every page is small, works without JavaScript and is never cached.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;

use super::session::Browser;
use crate::error::ApiError;
use crate::respond::no_store;
use crate::state::AppState;

pub struct ProviderLink {
    pub href: String,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct SignIn<'a> {
    pub app_name: &'a str,
    pub action: &'a str,
    pub csrf_token: &'a str,
    pub username: &'a str,
    pub message: Option<&'a str>,
    pub providers: Vec<ProviderLink>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct Consent<'a> {
    pub app_name: &'a str,
    pub user_name: &'a str,
    /// `(name, what it allows)`: the words for the person, the name for the curious.
    pub scopes: Vec<(&'static str, &'static str)>,
    pub action: &'a str,
    pub csrf_token: &'a str,
}

/// The admin console's answer to a signed-in user who is not staff: who they are, and a
/// way to sign out and in as someone else (the console's own CSRF-checked sign-out).
#[derive(Template)]
#[template(path = "staff_only.html")]
pub struct StaffOnly<'a> {
    pub user_name: &'a str,
    pub csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub heading: &'a str,
    pub message: &'a str,
}

/// The form a password-reset link opens; `problems` say why the last try was refused.
#[derive(Template)]
#[template(path = "reset_password.html")]
pub struct ResetForm<'a> {
    pub token: &'a str,
    pub account: &'a str,
    pub problems: &'a [String],
}

/// A flow's happy ending: what happened, in a sentence.
#[derive(Template)]
#[template(path = "done.html")]
pub struct Done<'a> {
    pub heading: &'a str,
    pub message: &'a str,
}

/// The sign-in form shown again: why, and the login the person typed, kept so that a
/// mistyped password does not cost them the email too (the password is never kept).
#[derive(Clone, Copy)]
pub struct Retry<'a> {
    pub message: &'a str,
    pub username: &'a str,
}

/// The sign-in form for the pending authorization request `query`, with a link to each
/// provider that can sign the browser in (carrying the same request).
pub fn sign_in_page(
    state: &AppState,
    browser: &Browser,
    app_name: &str,
    query: &str,
    retry: Option<Retry<'_>>,
) -> Result<HttpResponse, ApiError> {
    let providers = state
        .providers
        .names()
        .into_iter()
        .filter_map(|name| {
            let sign_in = state.providers.get(name)?.redirect_sign_in()?;
            Some(ProviderLink { href: format!("/auth/login/{name}?{query}"), label: sign_in.label })
        })
        .collect();
    render(
        if retry.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK },
        &SignIn {
            app_name,
            action: &format!("/auth/authorize?{query}"),
            csrf_token: &browser.csrf_token(&state.secret_key),
            username: &retry.map_or_else(
                || super::prompt::Prompt::of(query).login_hint.unwrap_or_default(),
                |r| r.username.to_owned(),
            ),
            message: retry.map(|r| r.message),
            providers,
        },
    )
}

/// A rendered page with the status and the headers every page carries.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, ApiError> {
    let body = page.render().map_err(ApiError::internal)?;
    Ok(no_store(&mut HttpResponse::build(status))
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        // Nobody may frame the sign-in or consent page (clickjacking).
        .insert_header(("X-Frame-Options", "DENY"))
        // A mailed link's page carries its token in the address: no Referer may take it along.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .body(body))
}

pub fn error(status: StatusCode, heading: &str, message: &str) -> Result<HttpResponse, ApiError> {
    render(status, &ErrorPage { heading, message })
}

/// A form without the CSRF token of this browser's cookie.
pub fn expired_form() -> Result<HttpResponse, ApiError> {
    error(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was not sent from this page (or your browser blocks cookies). Go back, reload the page and try again.",
    )
}
