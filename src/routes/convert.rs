//! Social sign-in: `POST /auth/convert-token`, the `convert_token` and RFC 8693
//! token-exchange grants, and `POST /auth/disconnect-backend`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::auth::bearer::UserBearer;
use crate::auth::client::ClientCredentials;
use crate::auth::client_ip::client_ip_text;
use crate::db;
use crate::db::DbConnection;
use crate::domain::{GrantType, Scope};
use crate::error::ApiError;
use crate::params::Params;
use crate::providers::Credential;
use crate::routes::token::{authorized_client_now, user_scope, Needs};
use crate::social;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::audit::NewAuditEvent;
use crate::store::returning_sign_in::Identity;
use crate::store::social::SocialAccount;
use crate::store::users::User;
use crate::tokens::{Family, Grant, TokenResponse};

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// The user as drf-social-oauth2 returns it beside the tokens.
#[derive(Serialize)]
struct ConvertedUser {
    id: i64,
    email: Option<String>,
    first_name: String,
    last_name: String,
}

#[derive(Serialize)]
struct Converted {
    #[serde(flatten)]
    tokens: TokenResponse,
    user: ConvertedUser,
}

#[derive(Serialize)]
struct Exchanged {
    #[serde(flatten)]
    tokens: TokenResponse,
    issued_token_type: &'static str,
}

/// What the client asks us to convert, read from drf-style or RFC 8693 parameters.
struct Conversion {
    grant: GrantType,
    backend: String,
    token: Option<String>,
    code: Option<(String, String, Option<String>)>,
    nonce: Option<String>,
    scope: Option<String>,
}

impl Conversion {
    fn from_params(params: &Params, grant: GrantType) -> Result<Self, ApiError> {
        let owned = |key: &str| params.get(key).map(str::to_owned);
        let (backend, token) = if grant == GrantType::TokenExchange {
            let token_type = params.require("subject_token_type")?;
            if token_type != ACCESS_TOKEN_TYPE && token_type != ID_TOKEN_TYPE {
                return Err(ApiError::invalid_request(format!(
                    "subject_token_type must be {ACCESS_TOKEN_TYPE} or {ID_TOKEN_TYPE}."
                )));
            }
            let subject = params.require("subject_token")?;
            // The provider tells ID tokens from access tokens by their shape; a declared
            // ID token that is not a JWT would otherwise be checked as an access token.
            if token_type == ID_TOKEN_TYPE && !crate::providers::looks_like_jwt(subject) {
                return Err(ApiError::invalid_request("subject_token is not a JWT, as an ID token is."));
            }
            (params.require("subject_issuer")?.to_owned(), Some(subject.to_owned()))
        } else {
            (params.require("backend")?.to_owned(), owned("token"))
        };
        let code = match (owned("code"), token.is_none()) {
            (Some(code), true) => {
                Some((code, params.require("redirect_uri")?.to_owned(), owned("code_verifier")))
            }
            (None, true) => {
                return Err(ApiError::invalid_request("The 'token' parameter (or 'code') is required."))
            }
            _ => None,
        };
        Ok(Self { grant, backend, token, code, nonce: owned("nonce"), scope: owned("scope") })
    }
}

/// Verifies the provider credential, links or creates the user, and issues our tokens.
async fn convert(
    state: &AppState,
    client: ClientCredentials,
    conversion: Conversion,
    address: String,
) -> Result<(TokenResponse, User), ApiError> {
    let provider = state.providers.get(&conversion.backend).ok_or_else(|| {
        ApiError::invalid_request(format!("Unknown or unconfigured backend '{}'.", conversion.backend))
    })?;
    // The client is checked before anything is sent to the provider.
    let grant = conversion.grant;
    let redirect_uri = conversion.code.as_ref().map(|(_, uri, _)| uri.clone());
    let authorized = authorized_client_now(state, client, Needs { grant, redirect_uri }).await?;
    let credential = match (&conversion.token, &conversion.code) {
        (Some(token), _) => Credential::Token(token),
        (None, Some((code, redirect_uri, verifier))) => {
            Credential::Code { code, redirect_uri, code_verifier: verifier.as_deref() }
        }
        (None, None) => return Err(ApiError::invalid_request("The 'token' parameter is required.")),
    };
    let profile = provider.verify(credential, conversion.nonce.as_deref()).await?.checked()?;

    let (issuer, clients) = (state.issuer.clone(), state.clients.clone());
    let sealed = social::seal_refresh_token(&state.secret_key, &profile);
    let (issued, user) = state
        .writes
        .run(move |conn| {
            let app = authorized.confirm(conn, &clients)?;
            let admit = |user: &User| {
                if !user.is_active {
                    return Err(ApiError::invalid_grant("The user account is disabled."));
                }
                user_scope(conversion.scope.as_deref(), user)
            };
            let issue = |conn: &mut DbConnection, user: User, scope: Scope| {
                let grant = Grant {
                    grant_type: grant,
                    application: &app,
                    user_id: Some(user.id),
                    scope: &scope,
                    family: Family::New,
                };
                let event = sign_in_event(&app, &address, profile.provider);
                Ok((issuer.issue_sign_in(conn, grant, event)?, user))
            };
            // PostgreSQL: a returning user's lookup, link update, sign-in and pair are one
            // statement; its admission is repeated here only to explain a refusal.
            if let DbConnection::Pg(pg) = conn {
                let asked = Scope::requested(conversion.scope.as_deref()).map_err(ApiError::InvalidScope)?;
                let extra = profile.extra.to_string();
                let identity = Identity {
                    provider: profile.provider,
                    uid: &profile.uid,
                    extra_data: &extra,
                    sealed_refresh_token: sealed.as_deref(),
                };
                let event = sign_in_event(&app, &address, profile.provider);
                match issuer.sign_in_returning(pg, grant, &app, &asked, &identity, event)? {
                    Some((user, Some(tokens))) => return Ok((tokens, user)),
                    Some((user, None)) => {
                        admit(&user)?;
                        return Err(ApiError::internal("an admitted sign-in issued nothing"));
                    }
                    None => {}
                }
            } else if let Some((link, user)) = social::returning(conn, &profile)? {
                // SQLite, where statements cost no round trip: once admitted, the link is
                // brought up to date and the sign-in, its audit event and the pair are one
                // write, with no transaction around them.
                let scope = admit(&user)?;
                social::update_link(conn, &link, &profile, sealed.as_deref())?;
                return issue(conn, user, scope);
            }
            // A new link and the tokens in one transaction: a refused sign-in (disabled
            // user, scope) leaves no new link.
            db::write_transaction(conn, |conn| {
                let user = social::create_link(conn, &profile, sealed.as_deref())?;
                let scope = admit(&user)?;
                issue(conn, user, scope)
            })
        })
        .await?;
    Ok((state.issuer.sign(issued)?, user))
}

/// The audit event of a social sign-in at `app`.
fn sign_in_event<'a>(app: &'a Application, address: &'a str, provider: &'a str) -> NewAuditEvent<'a> {
    NewAuditEvent {
        action: "login.social",
        target_type: "application",
        target_id: &app.client_id,
        ip: Some(address),
        detail: provider,
        ..Default::default()
    }
}

fn no_store(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body)
}

async fn converted(
    req: &HttpRequest,
    state: &AppState,
    client: ClientCredentials,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let conversion = Conversion::from_params(params, GrantType::ConvertToken)?;
    let (tokens, user) = convert(state, client, conversion, address(req, state)).await?;
    let user = ConvertedUser {
        id: user.id,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
    };
    Ok(no_store(Converted { tokens, user }))
}

/// `POST /auth/convert-token`.
pub async fn convert_token(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(grant) = params.get("grant_type").filter(|g| *g != GrantType::ConvertToken.as_str()) {
        return Err(ApiError::UnsupportedGrantType(format!(
            "This endpoint takes grant_type=convert_token, not '{grant}'."
        )));
    }
    let client = ClientCredentials::required(&req, &params)?;
    converted(&req, &state, client, &params).await
}

fn address(req: &HttpRequest, state: &AppState) -> String {
    client_ip_text(req, &state.settings.trusted_proxies)
}

/// `grant_type=convert_token` on `/auth/token`.
pub async fn convert_grant(
    req: &HttpRequest,
    client: ClientCredentials,
    params: &Params,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    converted(req, state, client, params).await
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` on `/auth/token`.
pub async fn token_exchange(
    req: &HttpRequest,
    client: ClientCredentials,
    params: &Params,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let conversion = Conversion::from_params(params, GrantType::TokenExchange)?;
    let (tokens, _) = convert(state, client, conversion, address(req, state)).await?;
    Ok(no_store(Exchanged { tokens, issued_token_type: ACCESS_TOKEN_TYPE }))
}

/// `POST /auth/disconnect-backend`: unlink a provider, unless it is the last way in.
pub async fn disconnect_backend(
    params: Params,
    bearer: UserBearer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let backend = params.require("backend")?.to_owned();
    let association: Option<i64> = match params.get("association_id") {
        Some(raw) => {
            Some(raw.parse().map_err(|_| ApiError::invalid_request("association_id must be a number."))?)
        }
        None => None,
    };
    let user = bearer.user;
    state.writes.run(move |conn| {
        db::write_transaction(conn, |conn| {
            let links = SocialAccount::for_user(conn, user.id)?;
            let target = links
                .iter()
                .find(|l| l.provider == backend && association.is_none_or(|id| id == l.id))
                .ok_or_else(|| ApiError::invalid_request(format!("No '{backend}' link to disconnect.")))?;
            if user.password_hash.is_none() && links.len() == 1 {
                return Err(ApiError::invalid_request(
                    "This is the account's last way to sign in; set a password or link another provider first.",
                ));
            }
            SocialAccount::delete(conn, target.id)?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
