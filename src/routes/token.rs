//! `POST /auth/token`: dispatches on `grant_type`; every grant issues through `TokenIssuer`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::Connection;

use crate::auth::client::ClientCredentials;
use crate::auth::client_cache::ClientCache;
use crate::auth::client_ip::client_ip_text;
use crate::browser::oauth;
use crate::db::{self, DbConnection};
use crate::domain::scope::ADMIN;
use crate::domain::{ClientType, GrantType, Scope};
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::convert;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::users::User;
use crate::throttle;
use crate::tokens::refresh::{self, RotateRequest, Rotation};
use crate::tokens::{Family, Grant, TokenResponse};

pub async fn token(
    req: HttpRequest,
    params: Params,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let grant_name = params.require("grant_type")?;
    let grant = GrantType::parse(grant_name).ok_or_else(|| {
        ApiError::UnsupportedGrantType(format!("The grant type '{grant_name}' is not supported."))
    })?;
    let client = ClientCredentials::required(&req, &params)?;
    let response = match grant {
        GrantType::Password => password(&req, params, client, &state).await?,
        GrantType::RefreshToken => refresh_token(params, client, &state).await?,
        GrantType::ClientCredentials => client_credentials(params, client, &state).await?,
        GrantType::AuthorizationCode => authorization_code(params, client, &state).await?,
        GrantType::ConvertToken => return convert::convert_grant(&req, client, &params, &state).await,
        GrantType::TokenExchange => return convert::token_exchange(&req, client, &params, &state).await,
    };
    Ok(response.into_response())
}

/// The client, authenticated and allowed to use `grant`.
pub fn authorized_client(
    conn: &mut DbConnection,
    clients: &ClientCache,
    client: &ClientCredentials,
    grant: GrantType,
) -> Result<Arc<Application>, ApiError> {
    allowed(client.authenticate(conn, clients)?, grant)
}

/// What a client must be allowed: the grant, and the redirect URI of a code it brings.
#[derive(Clone)]
pub struct Needs {
    pub grant: GrantType,
    pub redirect_uri: Option<String>,
}

impl Needs {
    fn check(&self, app: Arc<Application>) -> Result<Arc<Application>, ApiError> {
        let app = allowed(app, self.grant)?;
        if let Some(uri) = &self.redirect_uri {
            if !app.redirect_uri_list().contains(&uri.as_str()) {
                return Err(ApiError::invalid_request(
                    "redirect_uri is not registered for this application.",
                ));
            }
        }
        Ok(app)
    }
}

/// A client authenticated ahead of a write job. `confirm`, in the job, makes it final.
pub struct AuthorizedClient {
    pub app: Arc<Application>,
    /// On SQLite: the stamp the application was read at (`None` when the database has
    /// none, and then nothing confirms it), and the credentials to authenticate with
    /// again should `applications` have changed since.
    recheck: Option<(Option<i64>, ClientCredentials)>,
    needs: Needs,
}

impl AuthorizedClient {
    /// The application to issue for, inside the write that issues: an application read
    /// earlier (from memory or not) holds only if `applications` is unchanged since.
    pub fn confirm(
        self,
        conn: &mut DbConnection,
        clients: &ClientCache,
    ) -> Result<Arc<Application>, ApiError> {
        let (Some((stamp, client)), Some(stamped)) = (self.recheck, clients.stamped()) else {
            return Ok(self.app);
        };
        if stamped.unchanged_since(conn, stamp)? {
            return Ok(self.app);
        }
        self.needs.check(client.authenticate(conn, clients)?)
    }
}

/// `authorized_client` without a trip to the database pool when memory holds the
/// client, for grants whose next step is a write job, which must `confirm` it.
pub async fn authorized_client_now(
    state: &AppState,
    client: ClientCredentials,
    needs: Needs,
) -> Result<AuthorizedClient, ApiError> {
    if let Some(checked) = client.authenticate_cached(&state.clients) {
        return Ok(AuthorizedClient { app: needs.check(checked?)?, recheck: None, needs });
    }
    if let Some(entry) = state.clients.stamped().and_then(|stamped| stamped.get(&client.client_id)) {
        // A stamped entry only admits: a refusal may be its staleness (a secret just
        // rotated, a grant or redirect URI just added), so the table decides those.
        if let Ok(app) = client.authenticate_found(Some(entry.app)).and_then(|app| needs.check(app)) {
            return Ok(AuthorizedClient { app, recheck: Some((Some(entry.stamp), client)), needs });
        }
    }
    let clients = state.clients.clone();
    db::run(&state.pool, move |conn| {
        let Some(stamped) = clients.stamped() else {
            let app = needs.check(client.authenticate(conn, &clients)?)?;
            return Ok(AuthorizedClient { app, recheck: None, needs });
        };
        let loaded = stamped.load(conn, &client.client_id)?;
        let app = needs.check(client.authenticate_found(loaded.app)?)?;
        Ok(AuthorizedClient { app, recheck: Some((loaded.stamp, client)), needs })
    })
    .await
}

fn allowed(app: Arc<Application>, grant: GrantType) -> Result<Arc<Application>, ApiError> {
    if !app.allows(grant) {
        return Err(ApiError::UnauthorizedClient(format!(
            "This application may not use the '{grant}' grant."
        )));
    }
    Ok(app)
}

/// The requested scope for a user; `admin` only for staff.
pub fn user_scope(raw: Option<&str>, user: &User) -> Result<Scope, ApiError> {
    let scope = Scope::requested(raw).map_err(ApiError::InvalidScope)?;
    if scope.contains(ADMIN) && !user.is_staff {
        return Err(ApiError::InvalidScope("The 'admin' scope is reserved to staff users.".into()));
    }
    Ok(scope)
}

async fn password(
    req: &HttpRequest,
    params: Params,
    client: ClientCredentials,
    state: &AppState,
) -> Result<TokenResponse, ApiError> {
    let login = params.require("username")?.to_owned();
    let password = params.require("password")?.to_owned();
    let raw_scope = params.get("scope").map(str::to_owned);
    let address = client_ip_text(req, &state.settings.trusted_proxies);

    let (app, user) = {
        let (login, clients) = (login.clone(), state.clients.clone());
        db::run(&state.pool, move |conn| {
            let app = authorized_client(conn, &clients, &client, GrantType::Password)?;
            Ok((app, User::find_by_login(conn, &login)?))
        })
        .await?
    };
    // Locked out means the password is not even looked at.
    let (verified, attempt) =
        throttle::judge_password(state, login, user.as_ref(), password, address.clone()).await?;

    let issuer = state.issuer.clone();
    let issued = state
        .writes
        .run(move |conn| {
            attempt.settle(conn, verified, &address)?;
            let Some(user) = user.filter(|_| verified) else {
                return Err(ApiError::invalid_grant("Invalid credentials given."));
            };
            if !user.is_active {
                return Err(ApiError::invalid_grant("The user account is disabled."));
            }
            let scope = user_scope(raw_scope.as_deref(), &user)?;
            issuer.issue_sign_in(
                conn,
                Grant {
                    grant_type: GrantType::Password,
                    application: &app,
                    user_id: Some(user.id),
                    scope: &scope,
                    family: Family::New,
                },
                NewAuditEvent {
                    action: "login.password",
                    target_type: "application",
                    target_id: &app.client_id,
                    ip: Some(&address),
                    ..Default::default()
                },
            )
        })
        .await?;
    state.issuer.sign(issued)
}

async fn refresh_token(
    params: Params,
    client: ClientCredentials,
    state: &AppState,
) -> Result<TokenResponse, ApiError> {
    let presented = params.require("refresh_token")?.to_owned();
    let raw_scope = params.get("scope").map(str::to_owned);
    let grace = state.settings.refresh_reuse_grace;
    let issuer = state.issuer.clone();
    let clients = state.clients.clone();
    let issued = state.writes.run(move |conn| {
        let app = authorized_client(conn, &clients, &client, GrantType::RefreshToken)?;
        let request = RotateRequest { application: &app, presented: &presented, scope: raw_scope.as_deref(), grace };
        match refresh::rotate(conn, &issuer, request)? {
            Rotation::Rotated(issued) => Ok(issued),
            Rotation::ReuseDetected { user_id, family_id } => {
                tracing::warn!(user.id = user_id, client.id = %app.client_id, "refresh token reuse: family revoked");
                audit::record(
                    conn,
                    NewAuditEvent {
                        actor_user_id: Some(user_id),
                        action: "token.reuse_detected",
                        target_type: "refresh_family",
                        target_id: &family_id,
                        ..Default::default()
                    },
                )?;
                Err(ApiError::invalid_grant(
                    "The refresh token was already used; every token of this sign-in has been revoked.",
                ))
            }
        }
    })
    .await?;
    state.issuer.sign(issued)
}

/// Exchanges a code from `/auth/authorize` (checked by oxide-auth, PKCE included) for
/// a token pair that starts a new refresh family.
async fn authorization_code(
    params: Params,
    client: ClientCredentials,
    state: &AppState,
) -> Result<TokenResponse, ApiError> {
    let code = params.require("code")?.to_owned();
    let redirect_uri = params.require("redirect_uri")?.to_owned();
    let verifier = params.get("code_verifier").map(str::to_owned);
    let (issuer, clients) = (state.issuer.clone(), state.clients.clone());
    let issued = state
        .writes
        .run(move |conn| {
            let app = authorized_client(conn, &clients, &client, GrantType::AuthorizationCode)?;
            // Not in the issuing transaction: a code is spent by any attempt to use it,
            // including one with the wrong verifier.
            let exchanged = oauth::exchange(conn, &app, &code, &redirect_uri, verifier.as_deref())?;
            let user = User::find(conn, exchanged.user_id)?
                .filter(|u| u.is_active)
                .ok_or_else(|| ApiError::invalid_grant("The user account is disabled."))?;
            let scope = if user.is_staff { exchanged.scope } else { exchanged.scope.without(ADMIN) };
            conn.transaction(|conn| {
                issuer.issue(
                    conn,
                    Grant {
                        grant_type: GrantType::AuthorizationCode,
                        application: &app,
                        user_id: Some(user.id),
                        scope: &scope,
                        family: Family::New,
                    },
                )
            })
        })
        .await?;
    state.issuer.sign(issued)
}

async fn client_credentials(
    params: Params,
    client: ClientCredentials,
    state: &AppState,
) -> Result<TokenResponse, ApiError> {
    let raw_scope = params.get("scope").map(str::to_owned);
    let (issuer, clients) = (state.issuer.clone(), state.clients.clone());
    let issued = state
        .writes
        .run(move |conn| {
            let app = authorized_client(conn, &clients, &client, GrantType::ClientCredentials)?;
            if app.client_type() != ClientType::Confidential {
                return Err(ApiError::UnauthorizedClient(
                    "Only confidential clients may use client_credentials.".into(),
                ));
            }
            let scope = Scope::requested(raw_scope.as_deref()).map_err(ApiError::InvalidScope)?;
            if scope.contains(ADMIN) {
                return Err(ApiError::InvalidScope("The 'admin' scope is reserved to staff users.".into()));
            }
            // One INSERT and no refresh token: atomic without BEGIN and COMMIT, which
            // would be two more round trips to PostgreSQL.
            issuer.issue(
                conn,
                Grant {
                    grant_type: GrantType::ClientCredentials,
                    application: &app,
                    user_id: None,
                    scope: &scope,
                    family: Family::None,
                },
            )
        })
        .await?;
    state.issuer.sign(issued)
}
