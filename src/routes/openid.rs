//! OpenID Connect's own endpoints (SPEC §13): the user's claims for a token
//! (`/auth/userinfo`) and the relying party's sign-out (`GET /auth/logout`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::bearer::UserBearer;
use crate::browser::pages;
use crate::browser::session::Browser;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::params::decode_form;
use crate::respond::no_store;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::tokens::id_token::UserClaims;

/// `GET|POST /auth/userinfo`: `sub` and the claims the token's scope allows.
pub async fn userinfo(bearer: UserBearer) -> HttpResponse {
    let scope = Scope::from_stored(&bearer.token.claims.scope);
    no_store(&mut HttpResponse::Ok()).json(UserClaims::of(&bearer.user, &scope))
}

/// `GET /auth/logout` (OpenID Connect RP-Initiated Logout 1.0): ends this browser's
/// session, then returns to `post_logout_redirect_uri` with `state` when that URI is
/// registered for the application the `id_token_hint` (or `client_id`) names; otherwise
/// it says so on a page and sends the browser nowhere.
pub async fn end_session(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pairs = decode_form(req.query_string().as_bytes()).unwrap_or_default();
    let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let hinted = value("id_token_hint")
        .and_then(|hint| state.keys.verify_id_hint(&hint))
        .and_then(|claims| claims.get("aud").and_then(|aud| aud.as_str()).map(str::to_owned));
    // The hint, when it verifies, names the application; a client_id may not contradict it.
    let client_id = match (hinted, value("client_id")) {
        (Some(aud), Some(id)) if aud != id => None,
        (Some(aud), _) => Some(aud),
        (None, id) => id,
    };
    let browser = Browser::from_request(&req, state.settings.secure_cookies());
    let back = value("post_logout_redirect_uri");
    let app = state
        .writes
        .run(move |conn| {
            browser.sign_out(conn)?;
            Ok(match client_id {
                Some(id) => Application::find_by_client_id(conn, &id)?,
                None => None,
            })
        })
        .await?;
    let registered = back.filter(|uri| {
        app.as_ref()
            .is_some_and(|app| app.post_logout_redirect_uris.split_whitespace().any(|known| known == uri))
    });
    match registered.and_then(|uri| url::Url::parse(&uri).ok()) {
        Some(mut url) => {
            if let Some(state) = value("state") {
                url.query_pairs_mut().append_pair("state", &state);
            }
            Ok(HttpResponse::Found().insert_header((header::LOCATION, url.as_str())).finish())
        }
        None => pages::error(
            StatusCode::OK,
            "Signed out",
            "This browser is no longer signed in. You can close this page.",
        ),
    }
}
