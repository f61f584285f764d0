//! The email flows of SPEC §12: a password reset, the verification of an address, and a
//! change of address. Each mails a link whose token is stored only as its SHA-256
//! (`store::email_tokens`), works once, expires, and is replaced by the next one of its
//! kind. Routes parse and answer; these modules decide. Mail leaves through
//! `mail::Mailer` once the write that made the link has committed.

pub mod address_change;
pub mod reset;
pub mod verification;

use crate::db::{DbConnection, Writer};
use crate::error::{ApiError, FieldErrors};
use crate::mail::messages::Sender;
use crate::mail::Mail;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::email_tokens::{self, EmailToken, NewEmailToken, Purpose};
use crate::store::users::User;
use crate::tokens::random;

/// Runs `work` as a write job and queues the mail it made, if any, once the write has
/// committed: a mail never names a link that was rolled back.
async fn write_then_mail<F>(state: &AppState, work: F) -> Result<(), ApiError>
where
    F: FnOnce(&mut Writer<'_>) -> Result<Option<Mail>, ApiError> + Send + 'static,
{
    if let Some(mail) = state.writes.run(work).await? {
        state.mailer.send(mail);
    }
    Ok(())
}

/// Stores a new link of `purpose` for `user_id`, mailed to `email`, and returns its URL
/// under `public_url` + `path`. The token is 256 random bits.
fn issue(
    conn: &mut Writer<'_>,
    purpose: Purpose,
    user_id: i64,
    email: &str,
    public_url: &str,
    path: &str,
    lifetime: i64,
) -> Result<String, ApiError> {
    let token = random::token(32);
    let now = crate::time::now();
    let token_hash = random::sha256_hex(&token);
    let new = NewEmailToken {
        purpose: purpose.as_str(),
        token_hash: &token_hash,
        user_id,
        email,
        created_at: now,
        expires_at: now + lifetime,
    };
    conn.transaction(|conn| email_tokens::replace(conn, purpose, &new))?;
    Ok(format!("{public_url}{path}?token={token}"))
}

/// The link `token` names, if it can still be used: known, unused, unexpired, for an
/// active account that (unless the link is for a new address) still has the address the
/// link was mailed to. Each refusal is `invalid_grant` saying which.
fn redeem(conn: &mut DbConnection, purpose: Purpose, token: &str) -> Result<(EmailToken, User), ApiError> {
    let found = match token.trim() {
        "" => None,
        token => email_tokens::find(conn, purpose, &random::sha256_hex(token))?,
    };
    let Some((link, user)) = found else {
        return Err(ApiError::invalid_grant("This link is not valid. Ask for a new one."));
    };
    if link.used_at.is_some() {
        return Err(used());
    }
    if link.expires_at <= crate::time::now() {
        return Err(ApiError::invalid_grant("This link has expired. Ask for a new one."));
    }
    if !user.is_active {
        return Err(ApiError::invalid_grant("The account is disabled."));
    }
    if purpose != Purpose::AddressChange && user.email.as_deref() != Some(link.email.as_str()) {
        return Err(ApiError::invalid_grant("This link was sent to an address the account no longer has."));
    }
    Ok((link, user))
}

fn used() -> ApiError {
    ApiError::invalid_grant("This link has already been used.")
}

/// Uses the link up inside the caller's write, or refuses if another request just did
/// (or it expired since it was read).
fn consume(conn: &mut Writer<'_>, link: &EmailToken) -> Result<(), ApiError> {
    if email_tokens::consume(conn, link.id, crate::time::now())? {
        Ok(())
    } else {
        Err(used())
    }
}

/// The name of the application a request came through, to sign its mail with.
fn app_name(conn: &mut DbConnection, client_id: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(match client_id.filter(|id| !id.is_empty()) {
        Some(id) => Application::find_by_client_id(conn, id)?.map(|app| app.name),
        None => None,
    })
}

fn sender<'a>(app_name: Option<&'a str>, public_url: &'a str) -> Sender<'a> {
    Sender { app_name, public_url }
}

fn field_error(field: &'static str, message: impl Into<String>) -> ApiError {
    let mut errors = FieldErrors::new();
    errors.insert(field, vec![message.into()]);
    ApiError::Validation(errors)
}
