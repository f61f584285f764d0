//! Proving an address: a link mailed at sign-up and on request (SPEC §12).

use super::{app_name, consume, issue, redeem, sender, write_then_mail};
use crate::db::{self, Writer};
use crate::domain::Email;
use crate::error::ApiError;
use crate::mail::{messages, Mail};
use crate::state::AppState;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::email_tokens::Purpose;
use crate::store::users::User;
use crate::throttle;

pub const LIFETIME_SECS: i64 = 24 * 3600;
pub const CONFIRM_PATH: &str = "/auth/email/verify/confirm";

/// A verification link for `user`'s address, stored in the caller's write (a sign-up's
/// transaction): the mail to send once it commits.
pub fn mail_link(
    conn: &mut Writer<'_>,
    user: &User,
    app_name: Option<&str>,
    public_url: &str,
) -> Result<Option<Mail>, ApiError> {
    let Some(email) = user.email.as_deref().filter(|_| !user.email_verified) else { return Ok(None) };
    let link = issue(conn, Purpose::Verification, user.id, email, public_url, CONFIRM_PATH, LIFETIME_SECS)?;
    Ok(Some(messages::verification(&sender(app_name, public_url), email, link, LIFETIME_SECS)))
}

/// `POST /auth/email/verify`: another link for the signed-in user; 429 past three an hour.
pub async fn request(state: &AppState, user: User, client_id: String) -> Result<(), ApiError> {
    let email = match user.email.as_deref() {
        None => return Err(ApiError::invalid_request("The account has no email address to verify.")),
        Some(_) if user.email_verified => {
            return Err(ApiError::invalid_request("The email address is already verified."))
        }
        Some(email) => Email::parse(email).map_err(|e| ApiError::invalid_request(e.to_string()))?,
    };
    let public_url = state.settings.mail.public_url.clone();
    write_then_mail(state, move |conn| {
        throttle::take_mail(conn, Purpose::Verification.as_str(), &email)?;
        let app = app_name(conn, Some(&client_id))?;
        mail_link(conn, &user, app.as_deref(), &public_url)
    })
    .await
}

/// A reminder for an account the password grant refused as unverified, made in the
/// grant's write only when the password was right, and quietly skipped past the hourly
/// cap: only the address's owner learns anything from it.
pub fn reminder(
    conn: &mut Writer<'_>,
    user: &User,
    app_name: &str,
    public_url: &str,
) -> Result<Option<Mail>, ApiError> {
    let Some(Ok(email)) = user.email.as_deref().map(Email::parse) else { return Ok(None) };
    match throttle::take_mail(conn, Purpose::Verification.as_str(), &email) {
        Err(ApiError::RateLimited { .. }) => Ok(None),
        Err(other) => Err(other),
        Ok(()) => mail_link(conn, user, Some(app_name), public_url),
    }
}

/// Opening the link: the address is verified.
pub async fn confirm(state: &AppState, token: String) -> Result<User, ApiError> {
    let (link, user) = db::run(&state.pool, move |conn| redeem(conn, Purpose::Verification, &token)).await?;
    state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                consume(conn, &link)?;
                User::mark_email_verified(conn, user.id)?;
                let target = user.id.to_string();
                audit::record(
                    conn,
                    NewAuditEvent {
                        actor_user_id: Some(user.id),
                        action: "user.verify_email",
                        target_type: "user",
                        target_id: &target,
                        ..Default::default()
                    },
                )?;
                Ok(User { email_verified: true, ..user })
            })
        })
        .await
}
