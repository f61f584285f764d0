//! Access tokens: DOT's opaque tokens that have not expired, recorded under
//! `tokens::imported`'s `jti` (from their SHA-256, never the token), with their scope,
//! expiry and user (none for client credentials). One that a live refresh token was issued
//! with joins that token's family, so the refresh token's rotation, revocation or burning
//! ends it as it ends ours. Imported after the refresh tokens, which they point at.
//!
//! A token already imported is never written again (a re-run cannot revive one revoked
//! here). Expired tokens are not read, so not counted.

use super::report::{Outcome, Report};
use super::source::{DjangoAccessToken, Source};
use super::{digest, in_batches, ImportError};
use crate::db::Writer;
use crate::store::django_imports::{ImportKind, ImportRecord};
use crate::store::tokens::{AccessRecord, NewAccess, RefreshRecord};
use crate::tokens::imported::access_jti_of_sha256;

pub fn import(
    conn: &mut Writer<'_>,
    source: &mut Source,
    report: &mut Report,
    now: i64,
) -> Result<(), ImportError> {
    in_batches(
        conn,
        report,
        ImportKind::AccessToken,
        |after, limit| source.access_tokens(now, after, limit),
        |row| row.id,
        |conn, row, _| import_one(conn, row, now),
    )
}

fn import_one(conn: &mut Writer<'_>, row: &DjangoAccessToken, now: i64) -> Result<Outcome, ImportError> {
    if let Some(record) = ImportRecord::find(conn, ImportKind::AccessToken, row.id)? {
        if AccessRecord::find(conn, record.local_id)?.is_none() {
            return Ok(Outcome::Skipped("deleted in Portcullis after an earlier import".into()));
        }
        return Ok(Outcome::Unchanged);
    }
    let Some(application_id) = row.application_id else {
        return Ok(Outcome::Skipped("it has no application".into()));
    };
    let Some(application) = ImportRecord::find(conn, ImportKind::Application, application_id)? else {
        return Ok(Outcome::Skipped(format!("its application {application_id} was not imported")));
    };
    let user_id = match row.user_id {
        Some(user_id) => match ImportRecord::find(conn, ImportKind::User, user_id)? {
            Some(user) => Some(user.local_id),
            None => return Ok(Outcome::Skipped(format!("its user {user_id} was not imported"))),
        },
        None => None,
    };
    let Some(sha256) = row.sha256() else {
        return Ok(Outcome::Skipped("it has neither a token nor a token_checksum".into()));
    };
    let jti = access_jti_of_sha256(&sha256);
    if AccessRecord::find_by_jti(conn, &jti)?.is_some() {
        return Ok(Outcome::Skipped("the same token is already in Portcullis".into()));
    }
    let refresh = match row.refresh_token_id {
        Some(django_id) => match ImportRecord::find(conn, ImportKind::RefreshToken, django_id)? {
            Some(record) => RefreshRecord::find(conn, record.local_id)?,
            None => None,
        },
        None => None,
    };
    AccessRecord::insert(
        conn,
        &NewAccess {
            jti: &jti,
            user_id,
            application_id: application.local_id,
            refresh_token_id: refresh.as_ref().map(|r| r.id),
            family_id: refresh.as_ref().map(|r| r.family_id.as_str()),
            scope: &row.scope,
            created_at: row.created,
            expires_at: row.expires,
        },
    )?;
    let local = AccessRecord::find_by_jti(conn, &jti)?.ok_or(diesel::result::Error::NotFound)?;
    let record = ImportRecord { local_id: local.id, digest: digest(row) };
    ImportRecord::save(conn, ImportKind::AccessToken, row.id, &record, now)?;
    Ok(Outcome::Created)
}
