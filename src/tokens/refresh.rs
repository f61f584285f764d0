//! Refresh-token rotation with reuse detection.
//!
//! The token is read first, outside any transaction, to tell a replay (the token was
//! already used when we looked) from a race (it was unused when we looked, but another
//! request claimed it first). A replay burns the family; a lost race is refused without
//! burning it, so the winner's new pair survives. The claim itself is a conditional
//! UPDATE whose row count decides the winner, on one node or on many.

use super::issuer::{Family, Grant, Issued, TokenIssuer};
use super::random;
use crate::db::DbConnection;
use crate::domain::{GrantType, Scope};
use crate::error::ApiError;
use crate::store::applications::Application;
use crate::store::tokens::{revoke, RefreshRecord};
use diesel::Connection;

/// What rotation decided, for the caller to log or audit.
pub enum Rotation {
    /// Recorded; the caller signs it once the write is done.
    Rotated(Issued),
    /// A rotated token came back: the family is now revoked.
    ReuseDetected { user_id: i64, family_id: String },
}

pub struct RotateRequest<'a> {
    pub application: &'a Application,
    pub presented: &'a str,
    pub scope: Option<&'a str>,
    /// `PORTCULLIS_REFRESH_REUSE_GRACE` in seconds.
    pub grace: i64,
}

pub fn rotate(
    conn: &mut DbConnection,
    issuer: &TokenIssuer,
    request: RotateRequest<'_>,
) -> Result<Rotation, ApiError> {
    let now = crate::time::now();
    let refused = || ApiError::invalid_grant("The refresh token is invalid, expired or revoked.");
    let key = random::refresh_token_key(request.presented);
    let asked = request.scope.map(str::trim).filter(|s| !s.is_empty());
    // On PostgreSQL the common case is one round trip: the statement rotates the token
    // if it qualifies, and either way returns the record as it stood for the checks
    // below, which then only explain a refusal.
    let (record, user_active, tried) = match conn {
        DbConnection::Pg(pg) if asked.is_none() => {
            let (record, active, rotated) =
                issuer.rotate_in_one(pg, request.application, &key, now)?.ok_or_else(refused)?;
            if let Some(response) = rotated {
                return Ok(Rotation::Rotated(response));
            }
            (record, active, true)
        }
        _ => {
            let (record, user) = RefreshRecord::find_with_user(conn, &key)?.ok_or_else(refused)?;
            (record, user.is_active, false)
        }
    };
    // Another client's token gets the same answer as an unknown one: saying "another
    // client" would tell a foreign client that the token exists.
    if record.application_id != request.application.id {
        return Err(refused());
    }
    if record.revoked_at.is_some() || record.expires_at <= now {
        return Err(refused());
    }
    if let Some(used_at) = record.used_at {
        if within_grace(conn, &record, used_at, now, request.grace)? {
            return Err(ApiError::invalid_grant(
                "The refresh token was just rotated; use the newest refresh token.",
            ));
        }
        conn.transaction(|conn| revoke::family(conn, &record.family_id, now))?;
        return Ok(Rotation::ReuseDetected { user_id: record.user_id, family_id: record.family_id });
    }

    let granted = Scope::from_stored(&record.scope);
    let scope = match asked {
        None => granted,
        Some(raw) => {
            let asked = Scope::parse(raw).map_err(ApiError::InvalidScope)?;
            if !asked.is_subset(&granted) {
                return Err(ApiError::InvalidScope("A refresh may only narrow the scope.".into()));
            }
            asked
        }
    };

    if !user_active {
        return Err(ApiError::invalid_grant("The user account is disabled."));
    }
    if tried {
        // Everything qualified when the statement looked, yet it did not rotate.
        return Err(concurrent());
    }

    // The claim and the new pair are one write: whichever concurrent request claims
    // the token first wins, and the other gets `invalid_grant` without burning it.
    let response = issuer.issue(
        conn,
        Grant {
            grant_type: GrantType::RefreshToken,
            application: request.application,
            user_id: Some(record.user_id),
            scope: &scope,
            family: Family::Rotate(&record),
        },
    )?;
    Ok(Rotation::Rotated(response))
}

pub fn concurrent() -> ApiError {
    ApiError::invalid_grant("The refresh token was used by a concurrent request.")
}

/// Two tabs refreshing at once: within the grace period, replaying the token whose
/// child is still unused is refused without burning the family.
fn within_grace(
    conn: &mut DbConnection,
    record: &RefreshRecord,
    used_at: i64,
    now: i64,
    grace: i64,
) -> Result<bool, ApiError> {
    if grace <= 0 || now - used_at > grace {
        return Ok(false);
    }
    Ok(RefreshRecord::child_of(conn, record.id)?
        .is_some_and(|child| child.used_at.is_none() && child.revoked_at.is_none()))
}
