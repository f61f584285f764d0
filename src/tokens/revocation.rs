//! Finding a presented token (access or refresh) and revoking it with what hangs off it.

use super::keys::KeyStore;
use super::{imported, random};
use crate::db::{DbConnection, Writer};
use crate::error::ApiError;
use crate::store::tokens::{revoke, AccessRecord, RefreshRecord};

/// A presented token, found in our records. An access record's times and `jti` are its
/// JWT's (or, for an imported token, all there is).
pub enum FoundToken {
    Access { record: AccessRecord },
    Refresh(RefreshRecord),
}

impl FoundToken {
    pub fn application_id(&self) -> i64 {
        match self {
            Self::Access { record } => record.application_id,
            Self::Refresh(record) => record.application_id,
        }
    }
}

/// Looks the token up as the hint suggests first, then as the other kind (RFC 7009 §2.1).
pub fn find(
    conn: &mut DbConnection,
    keys: &KeyStore,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<FoundToken>, ApiError> {
    let as_refresh = |conn: &mut DbConnection| -> Result<Option<FoundToken>, ApiError> {
        Ok(RefreshRecord::find_by_key(conn, &random::refresh_token_key(token))?.map(FoundToken::Refresh))
    };
    let as_access = |conn: &mut DbConnection| -> Result<Option<FoundToken>, ApiError> {
        let jti = if !crate::domain::looks_like_jwt(token) {
            imported::access_jti(token)
        } else {
            let Ok(claims) = keys.verify_ignoring_expiry(token) else { return Ok(None) };
            claims.jti
        };
        Ok(AccessRecord::find_by_jti(conn, &jti)?.map(|record| FoundToken::Access { record }))
    };
    // A refresh token carries our prefix; anything else is tried as a JWT first.
    let refresh_first = hint == Some("refresh_token") || token.starts_with(random::REFRESH_PREFIX);
    if refresh_first {
        if let Some(found) = as_refresh(conn)? {
            return Ok(Some(found));
        }
        as_access(conn)
    } else {
        if let Some(found) = as_access(conn)? {
            return Ok(Some(found));
        }
        as_refresh(conn)
    }
}

/// Revokes an access token and, when `with_refresh`, the refresh token issued with it
/// (drf-social-oauth2's revoke-token does both).
pub fn revoke_access(
    conn: &mut Writer<'_>,
    record: &AccessRecord,
    with_refresh: bool,
) -> Result<(), ApiError> {
    let now = crate::time::now();
    conn.transaction(|conn| {
        revoke::access_by_id(conn, record.id, now)?;
        if let (true, Some(refresh_id)) = (with_refresh, record.refresh_token_id) {
            revoke::refresh_by_id(conn, refresh_id, now)?;
        }
        Ok::<_, ApiError>(())
    })
}

/// Revoking a refresh token ends the sign-in it belongs to: the whole family and every
/// access token issued from it.
pub fn revoke_refresh(conn: &mut Writer<'_>, record: &RefreshRecord) -> Result<(), ApiError> {
    let now = crate::time::now();
    conn.transaction(|conn| revoke::family(conn, &record.family_id, now))?;
    Ok(())
}
