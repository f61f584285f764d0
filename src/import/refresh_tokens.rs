//! Refresh tokens: DOT's live ones, each the start of a family of its own (a new family id:
//! DOT's `token_family` is missing before DOT 3 and would tie the token to rows we never
//! import), stored under the key `tokens::random` gives a token without our prefix, so the
//! first use rotates it into our tokens. DOT's refresh tokens have no expiry column (unless
//! `REFRESH_TOKEN_EXPIRE_SECONDS`, which the database does not record), so an imported one
//! lives our refresh TTL from the import.
//!
//! A token already imported is never written again, so a re-run cannot revive one that was
//! used or revoked here; one that Django revoked since is revoked here too, with its family.
//! Revoked tokens never imported are not counted: DOT keeps every rotated token.

use super::report::{Outcome, Report};
use super::source::{DjangoRefreshToken, Source};
use super::{digest, in_batches, ImportError};
use crate::db::Writer;
use crate::store::django_imports::{ImportKind, ImportRecord};
use crate::store::tokens::{revoke, NewRefresh, RefreshRecord};
use crate::tokens::random::{ordered_id, refresh_token_key_of_sha256};

pub fn import(
    conn: &mut Writer<'_>,
    source: &mut Source,
    report: &mut Report,
    now: i64,
    ttl: i64,
) -> Result<(), ImportError> {
    in_batches(
        conn,
        report,
        ImportKind::RefreshToken,
        |after, limit| source.refresh_tokens(after, limit),
        |row| row.id,
        |conn, row, _| import_one(conn, row, now, ttl),
    )
}

fn import_one(
    conn: &mut Writer<'_>,
    row: &DjangoRefreshToken,
    now: i64,
    ttl: i64,
) -> Result<Outcome, ImportError> {
    if let Some(record) = ImportRecord::find(conn, ImportKind::RefreshToken, row.id)? {
        let Some(local) = RefreshRecord::find(conn, record.local_id)? else {
            return Ok(Outcome::Skipped("deleted in Portcullis after an earlier import".into()));
        };
        if row.revoked && local.revoked_at.is_none() {
            revoke::family(conn, &local.family_id, now)?;
            return Ok(Outcome::Updated);
        }
        return Ok(Outcome::Unchanged);
    }
    if row.revoked {
        return Ok(Outcome::Unchanged);
    }
    let Some(user) = ImportRecord::find(conn, ImportKind::User, row.user_id)? else {
        return Ok(Outcome::Skipped(format!("its user {} was not imported", row.user_id)));
    };
    let Some(application) = ImportRecord::find(conn, ImportKind::Application, row.application_id)? else {
        return Ok(Outcome::Skipped(format!("its application {} was not imported", row.application_id)));
    };
    let Some(scope) = &row.scope else {
        return Ok(Outcome::Skipped("its access token is gone, and with it its scope".into()));
    };
    let Some(sha256) = row.sha256() else {
        return Ok(Outcome::Skipped("it has neither a token nor a token_checksum".into()));
    };
    let key = refresh_token_key_of_sha256(&sha256);
    if RefreshRecord::find_by_key(conn, &key)?.is_some() {
        return Ok(Outcome::Skipped("the same token is already in Portcullis".into()));
    }
    let family_id = ordered_id();
    let local_id = RefreshRecord::insert(
        conn,
        &NewRefresh {
            token_hash: key.as_str(),
            family_id: &family_id,
            parent_id: None,
            user_id: user.local_id,
            application_id: application.local_id,
            scope,
            created_at: row.created,
            expires_at: now + ttl,
        },
    )?;
    let record = ImportRecord { local_id, digest: digest(row) };
    ImportRecord::save(conn, ImportKind::RefreshToken, row.id, &record, now)?;
    Ok(Outcome::Created)
}
