//! Changing the address: confirmed by a link mailed to the new one, after which the old
//! one is told (SPEC §12).

use super::{app_name, consume, field_error, issue, redeem, sender, write_then_mail};
use crate::db::{self, is_unique_violation};
use crate::domain::Email;
use crate::error::ApiError;
use crate::mail::messages;
use crate::state::AppState;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::email_tokens::Purpose;
use crate::store::users::User;
use crate::throttle;

pub const LIFETIME_SECS: i64 = 3600;
pub const CONFIRM_PATH: &str = "/auth/email/confirm";

pub struct ChangeRequest {
    pub new_email: String,
    pub password: String,
    /// The client the Bearer token was issued to, to sign the mail with.
    pub client_id: String,
    pub address: String,
}

/// `POST /auth/email`: the signed-in user's password is checked (counted like a sign-in),
/// then a link goes to the new address. Nothing changes until it is opened.
pub async fn request(state: &AppState, user: User, change: ChangeRequest) -> Result<(), ApiError> {
    let ChangeRequest { new_email, password, client_id, address } = change;
    let new_email = Email::parse(&new_email).map_err(|e| field_error("new_email", e.to_string()))?;
    if user.email.as_deref() == Some(new_email.as_str()) {
        return Err(field_error("new_email", "This is already the account's address."));
    }
    if user.password_hash.is_none() {
        return Err(field_error("password", "The account has no password yet: set one first."));
    }
    let (checked, attempt) =
        throttle::judge_password(state, user.username.clone(), Some(&user), password, address.clone())
            .await?;
    let verified = state.writes.run(move |conn| attempt.settle(conn, checked, &address)).await?;
    if !verified {
        return Err(field_error("password", "The password is not correct."));
    }
    let public_url = state.settings.mail.public_url.clone();
    write_then_mail(state, move |conn| {
        if User::find_by_email(conn, new_email.as_str())?.is_some() {
            return Err(field_error("new_email", "A user with that email already exists."));
        }
        throttle::take_mail(conn, Purpose::AddressChange.as_str(), &new_email)?;
        let app = app_name(conn, Some(&client_id))?;
        let to = new_email.as_str();
        let link =
            issue(conn, Purpose::AddressChange, user.id, to, &public_url, CONFIRM_PATH, LIFETIME_SECS)?;
        Ok(Some(messages::address_change(&sender(app.as_deref(), &public_url), to, link, LIFETIME_SECS)))
    })
    .await
}

/// Opening the link: the account takes the new address, verified, unless another account
/// took it meanwhile; the old address is told.
pub async fn confirm(state: &AppState, token: String) -> Result<User, ApiError> {
    let (link, user) = db::run(&state.pool, move |conn| redeem(conn, Purpose::AddressChange, &token)).await?;
    let taken = || ApiError::invalid_grant("The new address now belongs to another account.");
    let (old_email, changed) = state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                consume(conn, &link)?;
                if User::find_by_email(conn, &link.email)?.is_some() {
                    return Err(taken());
                }
                User::set_verified_email(conn, user.id, &link.email).map_err(|e| {
                    if is_unique_violation(&e) {
                        taken()
                    } else {
                        e.into()
                    }
                })?;
                let target = user.id.to_string();
                let detail = format!("from {} to {}", user.email.as_deref().unwrap_or("(none)"), link.email);
                audit::record(
                    conn,
                    NewAuditEvent {
                        actor_user_id: Some(user.id),
                        action: "user.change_email",
                        target_type: "user",
                        target_id: &target,
                        detail: &detail,
                        ..Default::default()
                    },
                )?;
                let old_email = user.email.clone();
                Ok((old_email, User { email: Some(link.email.clone()), email_verified: true, ..user }))
            })
        })
        .await?;
    if let (Some(old), Some(new)) = (old_email, changed.email.as_deref()) {
        let public_url = &state.settings.mail.public_url;
        state.mailer.send(messages::address_changed(&sender(None, public_url), &old, new));
    }
    Ok(changed)
}
