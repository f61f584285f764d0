//! `grant_type=password`: a user's login and password, for a first-party client.

use crate::account::verification;
use crate::auth::client::ClientCredentials;
use crate::auth::client_auth::Needs;
use crate::db;
use crate::domain::GrantType;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit::NewAuditEvent;
use crate::store::users::User;
use crate::throttle;
use crate::tokens::{Family, Grant, TokenResponse};

pub struct PasswordRequest {
    pub username: String,
    pub password: String,
    pub scope: Option<String>,
    /// The caller's address, for the brute-force counters and the audit log.
    pub address: String,
}

pub async fn password(
    state: &AppState,
    client: ClientCredentials,
    request: PasswordRequest,
) -> Result<TokenResponse, ApiError> {
    let PasswordRequest { username: login, password, scope, address } = request;
    let (app, user) = {
        let (login, clients) = (login.clone(), state.clients.clone());
        db::run(&state.pool, move |conn| {
            let app = clients.authorize(conn, &client, &Needs::grant(GrantType::Password))?;
            Ok((app, User::find_by_login(conn, &login)?))
        })
        .await?
    };
    // Locked out means the password is not even looked at.
    let (checked, attempt) =
        throttle::judge_password(state, login, user.as_ref(), password, address.clone()).await?;

    // SPEC §12: an unverified account is refused with one answer whether or not the password
    // was right; only a right one sends its owner a reminder.
    let unverified =
        state.settings.mail.require_verified_email && user.as_ref().is_some_and(|u| !u.email_verified);
    if unverified {
        // One write job either way, so the answer takes about as long too.
        let public_url = state.settings.mail.public_url.clone();
        let mail = state
            .writes
            .run(move |conn| {
                let right = attempt.settle(conn, checked, &address)?;
                match user.filter(|u| right && u.is_active) {
                    Some(user) => verification::reminder(conn, &user, &app.name, &public_url),
                    None => Ok(None),
                }
            })
            .await?;
        if let Some(mail) = mail {
            state.mailer.send(mail);
        }
        return Err(ApiError::invalid_grant("The email address is not verified."));
    }

    let issuer = state.issuer.clone();
    let issued = state
        .writes
        .run(move |conn| {
            let verified = attempt.settle(conn, checked, &address)?;
            let Some(user) = user.filter(|_| verified) else {
                return Err(ApiError::invalid_grant("Invalid credentials given."));
            };
            super::active(&user)?;
            let scope = super::user_scope(scope.as_deref(), &user)?;
            issuer.issue_sign_in(
                conn,
                Grant {
                    grant_type: GrantType::Password,
                    application: &app,
                    user_id: Some(user.id),
                    scope: &scope,
                    family: Family::New,
                    openid: Default::default(),
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
