//! Social sign-in: drf-social-oauth2's `convert_token` and RFC 8693 token exchange. A
//! provider's token (or code) for one of our users, exchanged for our own pair.

use crate::auth::client::ClientCredentials;
use crate::auth::client_auth::Needs;
use crate::db;
use crate::domain::{GrantType, Scope};
use crate::error::ApiError;
use crate::providers::Credential;
use crate::social;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::audit::NewAuditEvent;
use crate::store::returning_sign_in::{Identity, ReturningSignIn};
use crate::store::users::User;
use crate::tokens::{Family, Grant, TokenResponse};

/// What the client asks us to convert, read from drf-style or RFC 8693 parameters.
pub struct Conversion {
    pub grant: GrantType,
    pub backend: String,
    pub credential: Presented,
    pub nonce: Option<String>,
    pub scope: Option<String>,
    /// The caller's address, for the audit log.
    pub address: String,
}

/// The provider credential: a token, or an authorization code to exchange.
pub enum Presented {
    Token(String),
    Code { code: String, redirect_uri: String, code_verifier: Option<String> },
}

/// Verifies the provider credential, links or creates the user, and issues our tokens.
pub async fn convert(
    state: &AppState,
    client: ClientCredentials,
    conversion: Conversion,
) -> Result<(TokenResponse, User), ApiError> {
    let provider = state.providers.get(&conversion.backend).ok_or_else(|| {
        ApiError::invalid_request(format!("Unknown or unconfigured backend '{}'.", conversion.backend))
    })?;
    // The client is checked before anything is sent to the provider.
    let grant = conversion.grant;
    let redirect_uri = match &conversion.credential {
        Presented::Code { redirect_uri, .. } => Some(redirect_uri.clone()),
        Presented::Token(_) => None,
    };
    let admitted = state.clients.admit(&state.pool, client, Needs::Grant { grant, redirect_uri }).await?;
    let credential = match &conversion.credential {
        Presented::Token(token) => Credential::Token(token),
        Presented::Code { code, redirect_uri, code_verifier } => {
            Credential::Code { code, redirect_uri, code_verifier: code_verifier.as_deref() }
        }
    };
    let profile = provider.verify(credential, conversion.nonce.as_deref()).await?.checked()?;

    let (issuer, clients) = (state.issuer.clone(), state.clients.clone());
    let sealed = social::seal_refresh_token(&state.secret_key, &profile);
    let (issued, user) = state
        .writes
        .run(move |conn| {
            let app = admitted.confirm(conn, &clients)?;
            let address = conversion.address.as_str();
            let asked = Scope::requested(conversion.scope.as_deref())?;
            let extra = profile.extra.to_string();
            let identity = Identity {
                provider: profile.provider,
                uid: &profile.uid,
                extra_data: &extra,
                sealed_refresh_token: sealed.as_deref(),
            };
            let event = sign_in_event(&app, address, profile.provider);
            match issuer.sign_in_returning(conn, grant, &app, &asked, &identity, event)? {
                ReturningSignIn::SignedIn((user, issued)) => return Ok((issued, user)),
                ReturningSignIn::Refused(user) => {
                    admit(&user, conversion.scope.as_deref())?;
                    return Err(ApiError::internal("an admitted sign-in issued nothing"));
                }
                ReturningSignIn::NoLink => {}
            }
            // A new link and the tokens in one transaction: a refused sign-in (disabled
            // user, scope) leaves no new link.
            db::write_transaction(conn, |conn| {
                let user = social::create_link(conn, &profile, sealed.as_deref())?;
                let scope = admit(&user, conversion.scope.as_deref())?;
                let grant = Grant {
                    grant_type: grant,
                    application: &app,
                    user_id: Some(user.id),
                    scope: &scope,
                    family: Family::New,
                    openid: Default::default(),
                };
                let event = sign_in_event(&app, address, profile.provider);
                Ok((issuer.issue_sign_in(conn, grant, event)?, user))
            })
        })
        .await?;
    Ok((state.issuer.sign(issued)?, user))
}

/// Whether `user` may sign in with the scope asked, and that scope.
fn admit(user: &User, scope: Option<&str>) -> Result<Scope, ApiError> {
    super::active(user)?;
    super::user_scope(scope, user)
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
