//! Brute-force limits, counted in the database so every replica sees the same numbers.

use crate::config::ThrottleSettings;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::store::attempts;
use crate::store::audit::{self, NewAuditEvent};

const ACCOUNT: &str = "login_account";
const ADDRESS: &str = "login_address";
const REGISTER: &str = "register_address";

/// Refuses with 429 when `subject` has `limit` attempts of `kind` in the window.
fn check(
    conn: &mut DbConnection,
    t: &ThrottleSettings,
    kind: &str,
    subject: &str,
    limit: i64,
) -> Result<(), ApiError> {
    if limit <= 0 {
        return Ok(());
    }
    let now = crate::time::now();
    let (count, oldest) = attempts::count_since(conn, kind, subject, now - t.window_secs)?;
    if count >= limit {
        let retry_after = oldest.map(|o| o + t.window_secs - now).unwrap_or(t.window_secs).max(1);
        return Err(ApiError::RateLimited { retry_after });
    }
    Ok(())
}

/// Before a password is even checked: is this account or address locked out?
pub fn check_login(
    conn: &mut DbConnection,
    t: &ThrottleSettings,
    login: &str,
    address: &str,
) -> Result<(), ApiError> {
    check(conn, t, ACCOUNT, &login.trim().to_lowercase(), t.account_failures)?;
    check(conn, t, ADDRESS, address, t.address_failures)
}

/// Counts a failed sign-in against the account and the address, and audits it.
pub fn record_login_failure(conn: &mut DbConnection, login: &str, address: &str) -> Result<(), ApiError> {
    let now = crate::time::now();
    audit::record(
        conn,
        NewAuditEvent {
            action: "login.failed",
            target_type: "user",
            ip: Some(address),
            ..Default::default()
        },
    )?;
    attempts::record(conn, ACCOUNT, &login.trim().to_lowercase(), now)?;
    attempts::record(conn, ADDRESS, address, now)?;
    // Keep the table small; a day is longer than any sensible window.
    if rand::random::<u8>() == 0 {
        attempts::prune(conn, now - 86_400)?;
    }
    Ok(())
}

/// A successful sign-in clears the account's failures (not the address's).
pub fn record_login_success(conn: &mut DbConnection, login: &str) -> Result<(), ApiError> {
    attempts::clear(conn, ACCOUNT, &login.trim().to_lowercase())?;
    Ok(())
}

pub fn check_registration(
    conn: &mut DbConnection,
    t: &ThrottleSettings,
    address: &str,
) -> Result<(), ApiError> {
    check(conn, t, REGISTER, address, t.registrations)
}

pub fn record_registration(conn: &mut DbConnection, address: &str) -> Result<(), ApiError> {
    attempts::record(conn, REGISTER, address, crate::time::now())?;
    Ok(())
}
