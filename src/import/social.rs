//! Social links: python-social-auth's `social_auth_usersocialauth` rows, so that nobody has
//! to link Google or Facebook again. Links of users not imported are skipped.

use super::report::{Outcome, Report};
use super::source::{DjangoSocialLink, Source};
use super::{digest, in_batches, ImportError};
use crate::db::Writer;
use crate::store::django_imports::{ImportKind, ImportRecord};
use crate::store::social::{NewSocialAccount, SocialAccount};

pub fn import(
    conn: &mut Writer<'_>,
    source: &mut Source,
    report: &mut Report,
    now: i64,
) -> Result<(), ImportError> {
    in_batches(
        conn,
        report,
        ImportKind::SocialLink,
        |after, limit| source.social_links(after, limit),
        |row| row.id,
        |conn, row, _| import_one(conn, row, now),
    )
}

fn import_one(conn: &mut Writer<'_>, row: &DjangoSocialLink, now: i64) -> Result<Outcome, ImportError> {
    let Some(user) = ImportRecord::find(conn, ImportKind::User, row.user_id)? else {
        return Ok(Outcome::Skipped(format!("its user {} was not imported", row.user_id)));
    };
    let digest = digest(row);
    let (outcome, local_id) = match ImportRecord::find(conn, ImportKind::SocialLink, row.id)? {
        Some(record) => {
            let Some(link) = SocialAccount::find_by_id(conn, record.local_id)? else {
                return Ok(Outcome::Skipped("deleted in Portcullis after an earlier import".into()));
            };
            if record.digest == digest {
                return Ok(Outcome::Unchanged);
            }
            // Provider and uid stay as Portcullis has them: a Google link keyed by email is
            // re-keyed to its `sub` at the first sign-in, which a re-run must not undo.
            SocialAccount::set_user_and_extra(conn, link.id, user.local_id, &row.extra_data)?;
            (Outcome::Updated, link.id)
        }
        None => {
            if let Some(other) = SocialAccount::find(conn, &row.provider, &row.uid)? {
                return Ok(Outcome::Skipped(format!(
                    "{} {} is already linked to Portcullis user {}",
                    row.provider, row.uid, other.user_id
                )));
            }
            let new = NewSocialAccount {
                user_id: user.local_id,
                provider: &row.provider,
                uid: &row.uid,
                extra_data: &row.extra_data,
                created_at: row.created,
            };
            SocialAccount::insert(conn, &new)?;
            let link =
                SocialAccount::find(conn, &row.provider, &row.uid)?.ok_or(diesel::result::Error::NotFound)?;
            (Outcome::Created, link.id)
        }
    };
    ImportRecord::save(conn, ImportKind::SocialLink, row.id, &ImportRecord { local_id, digest }, now)?;
    Ok(outcome)
}
