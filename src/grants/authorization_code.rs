//! `grant_type=authorization_code`: a code from `/auth/authorize` (checked by oxide-auth,
//! PKCE included) for a token pair that starts a new refresh family.

use crate::auth::client::ClientCredentials;
use crate::auth::client_auth::Needs;
use crate::browser::oauth;
use crate::domain::scope::ADMIN;
use crate::domain::GrantType;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users::User;
use crate::tokens::{Family, Grant, SignInFacts, TokenResponse};

pub struct CodeRequest {
    pub code: String,
    pub redirect_uri: String,
    pub code_verifier: Option<String>,
}

pub async fn authorization_code(
    state: &AppState,
    client: ClientCredentials,
    request: CodeRequest,
) -> Result<TokenResponse, ApiError> {
    let (issuer, clients) = (state.issuer.clone(), state.clients.clone());
    let issued = state
        .writes
        .run(move |conn| {
            let app = clients.authorize(conn, &client, &Needs::grant(GrantType::AuthorizationCode))?;
            // Not in the issuing transaction: a code is spent by any attempt to use it,
            // including one with the wrong verifier.
            let CodeRequest { code, redirect_uri, code_verifier } = &request;
            let exchanged = oauth::exchange(conn, &app, code, redirect_uri, code_verifier.as_deref())?;
            let user = User::find(conn, exchanged.user_id)?
                .filter(|u| u.is_active)
                .ok_or_else(|| ApiError::invalid_grant("The user account is disabled."))?;
            let scope = if user.is_staff { exchanged.scope } else { exchanged.scope.without(ADMIN) };
            let openid = SignInFacts { auth_time: exchanged.auth_time, nonce: exchanged.nonce.as_deref() };
            conn.transaction(|conn| {
                issuer.issue(
                    conn,
                    Grant {
                        grant_type: GrantType::AuthorizationCode,
                        application: &app,
                        user_id: Some(user.id),
                        scope: &scope,
                        family: Family::New,
                        openid,
                    },
                )
            })
        })
        .await?;
    state.issuer.sign(issued)
}
