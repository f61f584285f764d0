//! Users: Django's rows under their own ids (our tokens' `sub` is the id the project's own
//! tables reference), their password hashes kept as Django wrote them, for
//! `auth::password_check` to verify and upgrade at the first sign-in.

use std::collections::HashMap;

use super::report::{Outcome, Report};
use super::source::{DjangoUser, Source, TableName};
use super::{digest, in_batches, ImportError};
use crate::db::Writer;
use crate::domain::Email;
use crate::store::django_imports::{ImportKind, ImportRecord};
use crate::store::users::{ImportedProfile, ImportedUser, User};

pub fn import(
    conn: &mut Writer<'_>,
    source: &mut Source,
    table: &TableName,
    report: &mut Report,
    now: i64,
) -> Result<(), ImportError> {
    let addresses = Addresses::of(source, table)?;
    in_batches(
        conn,
        report,
        ImportKind::User,
        |after, limit| source.users(table, after, limit),
        |row| row.id,
        |conn, row, report| import_one(conn, row, &addresses, report, now),
    )
}

/// Who keeps which address: of users whose emails are equal but for case, the lowest id
/// (sign-in finds a user by the lower-cased address, so only one may hold it).
struct Addresses {
    keeper: HashMap<String, i64>,
}

/// The address a user is imported with, and why not theirs if not.
struct Address {
    email: Option<Email>,
    note: Option<String>,
}

impl Addresses {
    fn of(source: &mut Source, table: &TableName) -> Result<Self, ImportError> {
        let mut keeper = HashMap::new();
        for row in source.user_emails(table)? {
            if let Ok(email) = Email::parse(&row.email) {
                keeper.entry(email.as_str().to_owned()).or_insert(row.id);
            }
        }
        Ok(Self { keeper })
    }

    fn of_user(&self, row: &DjangoUser) -> Address {
        if row.email.trim().is_empty() {
            return Address { email: None, note: None };
        }
        let Ok(email) = Email::parse(&row.email) else {
            let note = format!("{} is not a valid address; imported without an email", row.email);
            return Address { email: None, note: Some(note) };
        };
        match self.keeper.get(email.as_str()) {
            Some(&keeper) if keeper != row.id => Address {
                email: None,
                note: Some(format!(
                    "{} differs only in case from the address of user {keeper}, who keeps it; \
                     imported without an email (signs in by username)",
                    row.email
                )),
            },
            _ => Address { email: Some(email), note: None },
        }
    }
}

fn import_one(
    conn: &mut Writer<'_>,
    row: &DjangoUser,
    addresses: &Addresses,
    report: &mut Report,
    now: i64,
) -> Result<Outcome, ImportError> {
    let record = ImportRecord::find(conn, ImportKind::User, row.id)?;
    let existing = User::find(conn, row.id)?;
    let existing = match (&record, existing) {
        (None, Some(other)) => {
            return Ok(Outcome::Skipped(format!(
                "id {} is taken by Portcullis user {}",
                row.id, other.username
            )))
        }
        (Some(_), None) => {
            return Ok(Outcome::Skipped("deleted in Portcullis after an earlier import".into()))
        }
        (_, existing) => existing,
    };
    if let Some(other) = User::find_by_username(conn, &row.username)?.filter(|u| u.id != row.id) {
        return Ok(Outcome::Skipped(format!(
            "username {} belongs to Portcullis user {}",
            row.username, other.id
        )));
    }
    let mut address = addresses.of_user(row);
    let digest = digest(row);
    if record.as_ref().is_some_and(|r| r.digest == digest) {
        // Unchanged in Django since the last run: Portcullis's own changes since stand.
        if let Some(note) = address.note {
            report.note("email", row.id, note);
        }
        return Ok(Outcome::Unchanged);
    }
    if let Some(email) = &address.email {
        if let Some(other) = User::find_by_email(conn, email.as_str())?.filter(|u| u.id != row.id) {
            address.note =
                Some(format!("{} belongs to Portcullis user {}; imported without an email", email, other.id));
            address.email = None;
        }
    }
    if let Some(note) = address.note {
        report.note("email", row.id, note);
    }
    let profile = ImportedProfile {
        email: address.email.as_ref().map(Email::as_str),
        username: &row.username,
        first_name: &row.first_name,
        last_name: &row.last_name,
        is_active: row.is_active,
        // A superuser is staff even when Django's is_staff is false (SPEC §11).
        is_staff: row.is_staff || row.is_superuser,
        date_joined: row.date_joined,
        last_login: row.last_login,
    };
    // Django's "no usable password" (`!` and random characters) is our NULL.
    let password = Some(row.password.as_str()).filter(|p| !p.is_empty() && !p.starts_with('!'));
    let outcome = match existing {
        None => {
            User::insert_imported(conn, &ImportedUser { id: row.id, password_hash: password, profile })?;
            Outcome::Created
        }
        Some(user) => {
            User::update_profile(conn, row.id, &profile)?;
            // A hash Portcullis re-hashed at a sign-in is the user's newest password.
            let ours = user.password_hash.as_deref().is_some_and(|h| h.starts_with("$argon2id$"));
            if !ours && user.password_hash.as_deref() != password {
                User::set_optional_password_hash(conn, row.id, password)?;
            }
            Outcome::Updated
        }
    };
    ImportRecord::save(conn, ImportKind::User, row.id, &ImportRecord { local_id: row.id, digest }, now)?;
    Ok(outcome)
}
