//! The admin web console at `/admin/`: a sign-in page for staff, and one HTML page with
//! its script and style sheet (sources in `admin/`, compiled into the binary) that
//! drives the JSON API with the session cookie and the CSRF token the page carries.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::staff::session_user;
use crate::browser::pages::{self, Retry, SignIn, StaffOnly};
use crate::browser::session::Browser;
use crate::browser::sign_in::{check_password, PasswordSignIn};
use crate::error::ApiError;
use crate::params::Params;
use crate::respond::no_store;
use crate::state::AppState;
use crate::store::users::User;

const INDEX: &str = include_str!("../../admin/index.html");
const SCRIPT: &str = include_str!("../../admin/app.js");
const STYLE: &str = include_str!("../../admin/style.css");
/// Everything the console loads comes from here; nothing inline, nothing framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// `GET /admin/`: the console for staff; others are sent to sign in or told no.
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let browser = Browser::from_request(&req, state.settings.secure_cookies());
    let Some(user) = session_user(&state, &browser).await? else { return Ok(redirect("/admin/login")) };
    if !user.is_staff {
        return staff_only(&state, &browser, &user, StatusCode::FORBIDDEN);
    }
    let name = display_name(&user);
    let page = INDEX
        .replace("{{csrf_token}}", &browser.csrf_token(&state.secret_key))
        .replace("{{user}}", &html_escape(name));
    Ok(no_store(&mut HttpResponse::Ok())
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(page))
}

fn display_name(user: &User) -> &str {
    user.email.as_deref().unwrap_or(&user.username)
}

/// A signed-in user who is not staff is told who they are and offered a way out,
/// rather than a page that only says no.
fn staff_only(
    state: &AppState,
    browser: &Browser,
    user: &User,
    status: StatusCode,
) -> Result<HttpResponse, ApiError> {
    let csrf_token = browser.csrf_token(&state.secret_key);
    pages::render(status, &StaffOnly { user_name: display_name(user), csrf_token: &csrf_token })
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (body, content_type) = match file.as_str() {
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return Err(ApiError::NotFound),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body))
}

fn login_page(
    state: &AppState,
    browser: &Browser,
    retry: Option<Retry<'_>>,
) -> Result<HttpResponse, ApiError> {
    let mut response = pages::render(
        StatusCode::OK,
        &SignIn {
            app_name: "the Portcullis admin console",
            action: "/admin/login",
            csrf_token: &browser.csrf_token(&state.secret_key),
            username: retry.map_or("", |r| r.username),
            message: retry.map(|r| r.message),
            providers: Vec::new(),
        },
    )?;
    if browser.fresh {
        response.add_cookie(&browser.cookie(state.settings.secure_cookies())).map_err(ApiError::internal)?;
    }
    Ok(response)
}

/// `GET /admin/login`: the sign-in form, unless the browser is signed in already.
pub async fn login_form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let browser = Browser::from_request(&req, state.settings.secure_cookies());
    match session_user(&state, &browser).await? {
        Some(user) if user.is_staff => Ok(redirect("/admin/")),
        Some(user) => staff_only(&state, &browser, &user, StatusCode::OK),
        None => login_page(&state, &browser, None),
    }
}

pub async fn login(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(browser) = Browser::from_form(&req, &state, &params) else { return pages::expired_form() };
    let login = params.get("username").unwrap_or_default().trim().to_owned();
    let password = params.get("password").unwrap_or_default().to_owned();
    match check_password(&req, &state, login.clone(), password).await? {
        PasswordSignIn::SignedIn(signed_in) => {
            let mut response = redirect("/admin/");
            response
                .add_cookie(&signed_in.cookie(state.settings.secure_cookies()))
                .map_err(ApiError::internal)?;
            Ok(response)
        }
        refused => {
            let retry = Retry { message: &refused.message(), username: &login };
            let mut response = login_page(&state, &browser, Some(retry))?;
            refused.mark(&mut response);
            Ok(response)
        }
    }
}

/// `POST /admin/logout`: ends this browser's session everywhere it is used.
pub async fn logout(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(browser) = Browser::from_form(&req, &state, &params) else { return pages::expired_form() };
    state.writes.run(move |conn| Ok(browser.sign_out(conn)?)).await?;
    Ok(redirect("/admin/login"))
}
