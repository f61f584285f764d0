//! `grant_type=client_credentials`: a confidential client acting for itself.

use crate::auth::client::ClientCredentials;
use crate::auth::client_auth::Needs;
use crate::domain::scope::ADMIN;
use crate::domain::{ClientType, GrantType, Scope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{Family, Grant, TokenResponse};

pub async fn client_credentials(
    state: &AppState,
    client: ClientCredentials,
    scope: Option<String>,
) -> Result<TokenResponse, ApiError> {
    let (issuer, clients) = (state.issuer.clone(), state.clients.clone());
    let issued = state
        .writes
        .run(move |conn| {
            let app = clients.authorize(conn, &client, &Needs::grant(GrantType::ClientCredentials))?;
            if app.client_type() != ClientType::Confidential {
                return Err(ApiError::UnauthorizedClient(
                    "Only confidential clients may use client_credentials.".into(),
                ));
            }
            let scope = Scope::requested(scope.as_deref())?;
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
                    openid: Default::default(),
                },
            )
        })
        .await?;
    state.issuer.sign(issued)
}
