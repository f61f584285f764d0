//! A forgotten password: a mailed link to a form that sets a new one (SPEC §12).

use super::{app_name, consume, field_error, issue, redeem, sender, write_then_mail};
use crate::auth::passwords;
use crate::db::{self, Writer};
use crate::domain::{Email, NewPassword, PasswordRules};
use crate::error::{ApiError, FieldErrors};
use crate::mail::{messages, Mail};
use crate::state::AppState;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::email_tokens::Purpose;
use crate::store::tokens::revoke;
use crate::store::users::User;
use crate::throttle;

pub const LIFETIME_SECS: i64 = 30 * 60;
pub const CONFIRM_PATH: &str = "/auth/password/reset/confirm";

/// `POST /auth/password/reset`. Whether or not the address has an account, the request
/// does the same work up to the lookup and gets the same answer; an active account gets a
/// mail, at most three an hour (the rest are dropped without a word). Each request counts
/// against its client address like a failed sign-in.
pub async fn request(
    state: &AppState,
    email: &str,
    client_id: Option<String>,
    address: String,
) -> Result<(), ApiError> {
    let email = Email::parse(email).map_err(|e| field_error("email", e.to_string()))?;
    let throttle_settings = state.settings.throttle.clone();
    let public_url = state.settings.mail.public_url.clone();
    write_then_mail(state, move |conn| {
        throttle::take_reset_request(conn, &throttle_settings, &address)?;
        match throttle::take_mail(conn, Purpose::PasswordReset.as_str(), &email) {
            Err(ApiError::RateLimited { .. }) => return Ok(None),
            other => other?,
        }
        let Some(user) = User::find_by_email(conn, email.as_str())?.filter(|u| u.is_active) else {
            return Ok(None);
        };
        let app = app_name(conn, client_id.as_deref())?;
        mail_link(conn, &user, app.as_deref(), &public_url)
    })
    .await
}

/// A reset link for `user`, stored in the caller's write: the mail to send once it
/// commits, or none for an account without an address.
pub fn mail_link(
    conn: &mut Writer<'_>,
    user: &User,
    app_name: Option<&str>,
    public_url: &str,
) -> Result<Option<Mail>, ApiError> {
    let Some(email) = user.email.as_deref() else { return Ok(None) };
    let link = issue(conn, Purpose::PasswordReset, user.id, email, public_url, CONFIRM_PATH, LIFETIME_SECS)?;
    Ok(Some(messages::password_reset(&sender(app_name, public_url), email, link, LIFETIME_SECS)))
}

/// The account a reset link is for, if the link can still be used (the form's page).
pub async fn check(state: &AppState, token: String) -> Result<User, ApiError> {
    db::run(&state.pool, move |conn| Ok(redeem(conn, Purpose::PasswordReset, &token)?.1)).await
}

/// `POST /auth/password/reset/confirm`: sets the new password, uses the link up, marks the
/// address verified (the mail reached it), and ends every session and token of the user,
/// in one transaction. A weak password is refused with `fields` and leaves the link usable.
pub async fn confirm(
    state: &AppState,
    token: String,
    new_password: &str,
    address: String,
) -> Result<User, ApiError> {
    let (link, user) = db::run(&state.pool, move |conn| redeem(conn, Purpose::PasswordReset, &token)).await?;
    let rules = PasswordRules { email: user.email.as_deref(), username: Some(&user.username) };
    let new = NewPassword::parse(new_password, &rules).map_err(|problems| {
        let mut errors = FieldErrors::new();
        errors.insert("new_password", problems);
        ApiError::Validation(errors)
    })?;
    let hash = state.hashes.run(move |memory| passwords::hash_with(new.expose(), memory)).await?;
    state
        .writes
        .run(move |conn| {
            conn.transaction(|conn| {
                consume(conn, &link)?;
                let now = crate::time::now();
                User::set_password_hash(conn, user.id, &hash)?;
                User::mark_email_verified(conn, user.id)?;
                revoke::user_families_except(conn, user.id, None, now)?;
                crate::store::browser::end_user_sessions(conn, user.id)?;
                throttle::clear_account(conn, &user)?;
                let target = user.id.to_string();
                audit::record(
                    conn,
                    NewAuditEvent {
                        actor_user_id: Some(user.id),
                        action: "user.reset_password",
                        target_type: "user",
                        target_id: &target,
                        ip: Some(&address),
                        ..Default::default()
                    },
                )?;
                Ok(User { email_verified: true, password_hash: Some(hash), ..user })
            })
        })
        .await
}
