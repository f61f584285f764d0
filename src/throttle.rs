//! Brute-force limits, counted in the database so every replica sees the same numbers.
//!
//! An attempt is recorded before it is judged and then counts itself: parallel guesses
//! each see every attempt committed before their own count, so no more than the limit
//! get through (a check followed by a later insert let a burst of N pass one check).
//! The insert and the count are separate statements on purpose: on PostgreSQL, inside
//! one transaction, concurrent uncommitted inserts would be invisible to each other.
//! A password attempt is recorded only once it holds a hash turn (twice the cores per
//! server, so the cores hash while other attempts are recorded), and withdrawn as soon
//! as its password checks out, so the attempts in flight for one account stay about
//! that many per server: many parallel correct sign-ins of one account are not
//! mistaken for guesses (the limit must exceed replicas x 2 x cores for that to hold).

use crate::auth::password_check::{self, Checked};
use crate::config::ThrottleSettings;
use crate::db::Writer;
use crate::domain::Email;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::attempts;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::users::User;
use crate::tokens::random::sha256_hex;

const ACCOUNT: &str = "login_account";
const ADDRESS: &str = "login_address";
const REGISTER: &str = "register_address";

/// SPEC §12: at most 3 mails of one purpose to one address per hour.
const MAILS_PER_ADDRESS: i64 = 3;
const MAIL_WINDOW_SECS: i64 = 3600;

/// Records an attempt of `kind` by `subject`, then refuses with 429 (and withdraws the
/// record, so hammering a locked account does not extend its lockout) when it is over
/// `limit` in the window. Returns the record's id, or `None` when the limit is off.
fn take(
    conn: &mut Writer<'_>,
    t: &ThrottleSettings,
    kind: &str,
    subject: &str,
    limit: i64,
) -> Result<Option<i64>, ApiError> {
    take_within(conn, t.window_secs, kind, subject, limit)
}

fn take_within(
    conn: &mut Writer<'_>,
    window_secs: i64,
    kind: &str,
    subject: &str,
    limit: i64,
) -> Result<Option<i64>, ApiError> {
    if limit <= 0 {
        return Ok(None);
    }
    let now = crate::time::now();
    let id = attempts::record(conn, kind, subject, now)?;
    let (count, oldest) = attempts::count_since(conn, kind, subject, now - window_secs)?;
    if count > limit {
        attempts::remove(conn, id)?;
        let retry_after = oldest.map(|o| o + window_secs - now).unwrap_or(window_secs).max(1);
        return Err(ApiError::RateLimited { retry_after });
    }
    Ok(Some(id))
}

/// A sign-in attempt, counted against its account and its address until it succeeds.
pub struct LoginAttempt {
    account: String,
    address: Option<i64>,
}

/// The account a login names: the user's id when there is one, so an email and a
/// username of one user share a count. The two kinds of key cannot collide: a login
/// typed as `user:42` must not count against user 42.
///
/// A login longer than any email or username is counted by its digest: the key goes
/// into a B-tree index, which PostgreSQL refuses entries of more than about 2.7 KB.
fn account_key(login: &str, user: Option<&User>) -> String {
    let login = login.trim().to_lowercase();
    match user {
        Some(user) => format!("user:{}", user.id),
        None if login.len() > Email::MAX_LEN => format!("login-digest:{}", sha256_hex(&login)),
        None => format!("login:{login}"),
    }
}

/// Before a password is checked: counts this attempt, or refuses with 429 when the
/// account or the address is locked out (the password is then not looked at).
fn begin_login(
    conn: &mut Writer<'_>,
    t: &ThrottleSettings,
    account: String,
    address: &str,
) -> Result<LoginAttempt, ApiError> {
    let account_id = take(conn, t, ACCOUNT, &account, t.account_failures)?;
    match take(conn, t, ADDRESS, address, t.address_failures) {
        Ok(address) => Ok(LoginAttempt { account, address }),
        Err(refused) => {
            if let Some(id) = account_id {
                attempts::remove(conn, id)?;
            }
            Err(refused)
        }
    }
}

/// Checks `password` against `user`'s hash (a dummy one for no user), counted as an
/// attempt of `login` from `address`; 429 when the account or address is locked out.
pub async fn judge_password(
    state: &AppState,
    login: String,
    user: Option<&User>,
    password: String,
    address: String,
) -> Result<(Checked, LoginAttempt), ApiError> {
    let turn = state.hashes.turn().await?;
    let settings = state.settings.throttle.clone();
    let account = account_key(&login, user);
    let attempt = state.writes.run(move |conn| begin_login(conn, &settings, account, &address)).await?;
    let user = user.cloned();
    let checked = turn.run(move |memory| password_check::check(&password, user.as_ref(), memory)).await?;
    Ok((checked, attempt))
}

impl LoginAttempt {
    /// Settles the attempt by its password check, and says whether the password was right:
    /// a right one clears the count (whatever refuses the sign-in afterwards, a disabled
    /// account or a scope, is not a guess) and stores its upgraded hash if it has one; a
    /// wrong one stays counted and is audited.
    pub fn settle(self, conn: &mut Writer<'_>, checked: Checked, address: &str) -> Result<bool, ApiError> {
        if checked.is_right() {
            checked.record(conn)?;
            self.succeeded(conn)?;
            Ok(true)
        } else {
            self.failed(conn, address)?;
            Ok(false)
        }
    }

    /// The attempt stays counted; the failure is audited.
    fn failed(self, conn: &mut Writer<'_>, address: &str) -> Result<(), ApiError> {
        audit::record(
            conn,
            NewAuditEvent {
                action: "login.failed",
                target_type: "user",
                ip: Some(address),
                ..Default::default()
            },
        )?;
        Ok(())
    }

    /// A success clears the account's count and takes this attempt off the address's.
    fn succeeded(self, conn: &mut Writer<'_>) -> Result<(), ApiError> {
        attempts::clear(conn, ACCOUNT, &self.account)?;
        if let Some(id) = self.address {
            attempts::remove(conn, id)?;
        }
        Ok(())
    }
}

/// Counts a sign-up from `address`, or refuses with 429 past the limit.
pub fn take_registration(conn: &mut Writer<'_>, t: &ThrottleSettings, address: &str) -> Result<(), ApiError> {
    take(conn, t, REGISTER, address, t.registrations)?;
    Ok(())
}

/// Counts a mail of `purpose` to `email`, or refuses with 429 past three an hour.
pub fn take_mail(conn: &mut Writer<'_>, purpose: &str, email: &Email) -> Result<(), ApiError> {
    let kind = format!("mail_{purpose}");
    take_within(conn, MAIL_WINDOW_SECS, &kind, email.as_str(), MAILS_PER_ADDRESS)?;
    Ok(())
}

/// A password-reset request counts against its client address as a failed sign-in would
/// (SPEC §12): asking for resets is another way to probe for accounts.
pub fn take_reset_request(
    conn: &mut Writer<'_>,
    t: &ThrottleSettings,
    address: &str,
) -> Result<(), ApiError> {
    take(conn, t, ADDRESS, address, t.address_failures)?;
    Ok(())
}

/// A reset proves who owns the account: its failed sign-ins no longer count.
pub fn clear_account(conn: &mut Writer<'_>, user: &User) -> Result<(), ApiError> {
    attempts::clear(conn, ACCOUNT, &account_key("", Some(user)))?;
    Ok(())
}

/// The earliest moment any counter still counts at `now`: attempts older than this are in
/// no window, and the janitor may delete them.
pub fn oldest_counted(t: &ThrottleSettings, now: i64) -> i64 {
    now - t.window_secs.max(MAIL_WINDOW_SECS)
}
