//! `GET|POST /auth/authorize`: the sign-in and consent pages of the authorization-code
//! flow (SPEC §6). GET shows what the browser needs next; POST takes the sign-in form
//! or the consent decision, always behind a CSRF check. The forms post back to the
//! same URL, so the pending request travels in the query string, never in the session.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::browser::oauth::{self, Authorization};
use crate::browser::pages::{self, sign_in_page, Consent, Retry};
use crate::browser::prompt::{self, Prompt};
use crate::browser::session::Browser;
use crate::browser::sign_in::{check_password, PasswordSignIn};
use crate::error::ApiError;
use crate::params::{decode_form, query_value, Params};
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::users::User;

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let browser = Browser::from_request(&req, state.settings.secure_cookies());
    let outcome = run_flow(&req, &state, &browser, None, false).await?;
    respond(&req, &state, &browser, outcome, None)
}

/// `POST /auth/logout`: the consent page's "Not you?": signs this browser out and
/// goes back to the authorization request, which now asks who is signing in.
pub async fn logout(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(browser) = Browser::from_form(&req, &state, &params) else { return pages::expired_form() };
    state.writes.run(move |conn| Ok(browser.sign_out(conn)?)).await?;
    // Back into an authorization request only: any other target would make this an
    // open redirect (and one a header cannot carry would be a 500).
    let back = params
        .get("next")
        .filter(|next| next.starts_with("/auth/authorize?"))
        .and_then(|next| header::HeaderValue::from_str(next).ok());
    match back {
        Some(next) => Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, next)).finish()),
        None => pages::error(StatusCode::OK, "Signed out", "This browser is no longer signed in."),
    }
}

pub async fn submit(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(browser) = Browser::from_form(&req, &state, &params) else { return pages::expired_form() };
    if let Some(login) = params.get("username") {
        let password = params.get("password").unwrap_or_default().to_owned();
        return sign_in(&req, &state, login.trim().to_owned(), password).await;
    }
    let decision = match (params.raw("allow").is_some(), params.raw("deny").is_some()) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        // Both buttons at once is no one's click: consent must not be read into it.
        (true, true) => return Err(ApiError::InvalidRequest("Choose allow or deny, not both.".into())),
        (false, false) => {
            return Err(ApiError::InvalidRequest("Expected a sign-in form or an allow/deny decision.".into()))
        }
    };
    let outcome = run_flow(&req, &state, &browser, decision, false).await?;
    respond(&req, &state, &browser, outcome, None)
}

/// What the flow decided, with what the pages need to show it.
struct Outcome {
    app: Option<Application>,
    user: Option<User>,
    decision: Authorization,
    /// The user signed in during this very request: the request's `prompt=login` or
    /// `max_age` is satisfied, and the pages that follow must not ask again.
    signed_in_now: bool,
}

/// Runs the flow for the browser's session. `signed_in_now`: the session was made by
/// this request's sign-in form, which is what `prompt=login` and `max_age` asked for.
async fn run_flow(
    req: &HttpRequest,
    state: &AppState,
    browser: &Browser,
    decision: Option<bool>,
    signed_in_now: bool,
) -> Result<Outcome, ApiError> {
    let query = req.query_string().to_owned();
    // PostgreSQL cannot store NUL (a PKCE challenge, say), and no valid request has one;
    // a query that is not UTF-8 once decoded is refused as a form body is.
    let readable = decode_form(query.as_bytes())
        .is_some_and(|pairs| !pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')));
    if !readable {
        return Ok(Outcome { app: None, user: None, decision: Authorization::Refused, signed_in_now });
    }
    let prompt = Prompt::of(&query);
    let client_id = query_value(&query, "client_id");
    let token = browser.token.clone();
    state
        .writes
        .run(move |conn| {
            let app = match client_id {
                Some(id) => Application::find_by_client_id(conn, &id)?,
                None => None,
            };
            let now = crate::time::now();
            // A session the request's prompt=login or max_age sets aside counts as none here
            // (it is not ended: the sign-in form replaces it).
            let signed_in = Browser { token, fresh: false }
                .signed_in(conn)?
                .filter(|(_, since)| signed_in_now || prompt.accepts(*since, now));
            // A decision needs someone to have made it.
            let decision = decision.filter(|_| signed_in.is_some());
            let mut decided = oauth::authorize(
                conn,
                app.as_ref(),
                &query,
                signed_in.as_ref().map(|(u, since)| (u.id, u.is_staff, *since)),
                decision,
            )?;
            if prompt.none {
                decided = oauth::without_pages(decided, app.as_ref(), &query);
            }
            let user = signed_in.map(|(user, _)| user);
            Ok(Outcome { app, user, decision: decided, signed_in_now })
        })
        .await
}

fn respond(
    req: &HttpRequest,
    state: &AppState,
    browser: &Browser,
    outcome: Outcome,
    retry: Option<Retry<'_>>,
) -> Result<HttpResponse, ApiError> {
    let query = match outcome.signed_in_now {
        true => prompt::satisfied(req.query_string()),
        false => req.query_string().to_owned(),
    };
    let action = format!("/auth/authorize?{query}");
    let csrf_token = browser.csrf_token(&state.secret_key);
    let app_name = outcome.app.as_ref().map(|a| a.name.as_str()).unwrap_or_default();
    let mut response = match outcome.decision {
        Authorization::Refused => pages::error(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            "The application is unknown, or the address it asked to return to is not registered for it.",
        )?,
        Authorization::Redirect(url) => {
            HttpResponse::Found().insert_header((header::LOCATION, url.as_str())).finish()
        }
        Authorization::SignIn => sign_in_page(state, browser, app_name, req.query_string(), retry)?,
        Authorization::Consent { scope } => {
            let user_name =
                outcome.user.as_ref().map(|u| u.email.as_deref().unwrap_or(&u.username)).unwrap_or_default();
            pages::render(
                StatusCode::OK,
                &Consent {
                    app_name,
                    user_name,
                    scopes: scope.described(),
                    action: &action,
                    csrf_token: &csrf_token,
                },
            )?
        }
    };
    if browser.fresh {
        response.add_cookie(&browser.cookie(state.settings.secure_cookies())).map_err(ApiError::internal)?;
    }
    Ok(response)
}

/// The sign-in form's answer: the next page of the flow, or the form again with why.
async fn sign_in(
    req: &HttpRequest,
    state: &AppState,
    login: String,
    password: String,
) -> Result<HttpResponse, ApiError> {
    match check_password(req, state, login.clone(), password).await? {
        PasswordSignIn::SignedIn(browser) => {
            let outcome = run_flow(req, state, &browser, None, true).await?;
            respond(req, state, &browser, outcome, None)
        }
        refused => {
            let browser = Browser::from_request(req, state.settings.secure_cookies());
            let outcome = run_flow(req, state, &browser, None, false).await?;
            let retry = Retry { message: &refused.message(), username: &login };
            let mut response = respond(req, state, &browser, outcome, Some(retry))?;
            refused.mark(&mut response);
            Ok(response)
        }
    }
}
