//! `import-django` (SPEC §11): brings a drf-social-oauth2 deployment's users, applications,
//! social links and live tokens over from its Django database, in batches, idempotently.
//!
//! - `source`: the Django database, SQLite or PostgreSQL, read with plain SQL.
//! - `users`, `applications`, `social`, `refresh_tokens`, `access_tokens`: one kind of row
//!   each, read, checked and written, in that order (each refers to the ones before).
//! - `report`: the counts and the rows skipped, with reasons.
//!
//! `store::django_imports` records what each run brought over, so a re-run updates its own
//! rows (only those whose source changed since) and tells them apart from Portcullis's own.

mod access_tokens;
mod applications;
mod refresh_tokens;
pub mod report;
mod social;
pub mod source;
mod users;

use std::convert::Infallible;

use self::report::{Outcome, Report};
use self::source::{Source, SourceError, TableName};
use crate::db::{write_transaction, Writer};
use crate::store::django_imports::ImportKind;
use crate::store::users::User;

/// Rows written per transaction: an interrupted import keeps the batches that committed,
/// never half a row, and a re-run carries on from them.
const BATCH: i64 = 500;

pub struct ImportOptions<'a> {
    /// `sqlite:///path/db.sqlite3` or `postgres://...`.
    pub from: &'a str,
    pub user_table: &'a str,
    pub dry_run: bool,
    /// How long an imported refresh token lives from the import (`Settings::refresh_token_ttl`).
    pub refresh_token_ttl: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the Django database: {0}")]
    Source(#[from] SourceError),
    #[error("cannot write the Portcullis database: {0}")]
    Target(#[from] diesel::result::Error),
}

/// Why the dry run's transaction ends without committing.
enum Stop {
    DryRun(Box<Report>),
    Failed(ImportError),
}

impl From<diesel::result::Error> for Stop {
    fn from(error: diesel::result::Error) -> Self {
        Stop::Failed(error.into())
    }
}

/// Imports everything, or with `dry_run` does the very same inside one transaction that is
/// rolled back: every check runs against what the earlier rows would have written, so the
/// counts are the ones a real run reports.
pub fn run(conn: &mut Writer<'_>, options: &ImportOptions<'_>) -> Result<Report, ImportError> {
    let table = TableName::parse(options.user_table)?;
    let mut source = Source::open(options.from)?;
    if !options.dry_run {
        let report = import_all(conn, &mut source, &table, options)?;
        write_transaction(conn, User::move_id_sequence_past_ids)?;
        return Ok(report);
    }
    let rolled_back = write_transaction(conn, |conn| -> Result<Infallible, Stop> {
        match import_all(conn, &mut source, &table, options) {
            Ok(report) => Err(Stop::DryRun(Box::new(report))),
            Err(error) => Err(Stop::Failed(error)),
        }
    });
    match rolled_back {
        Ok(never) => match never {},
        Err(Stop::DryRun(report)) => Ok(*report),
        Err(Stop::Failed(error)) => Err(error),
    }
}

fn import_all(
    conn: &mut Writer<'_>,
    source: &mut Source,
    table: &TableName,
    options: &ImportOptions<'_>,
) -> Result<Report, ImportError> {
    let now = crate::time::now();
    let mut report = Report::default();
    users::import(conn, source, table, &mut report, now)?;
    applications::import(conn, source, &mut report, now)?;
    social::import(conn, source, &mut report, now)?;
    refresh_tokens::import(conn, source, &mut report, now, options.refresh_token_ttl)?;
    access_tokens::import(conn, source, &mut report, now)?;
    Ok(report)
}

/// Reads the source a page at a time (by id, after the last one read), writes each page in
/// one transaction, and counts what became of each row as `kind` in `report`.
fn in_batches<R>(
    conn: &mut Writer<'_>,
    report: &mut Report,
    kind: ImportKind,
    mut read: impl FnMut(i64, i64) -> Result<Vec<R>, SourceError>,
    id: impl Fn(&R) -> i64,
    mut write: impl FnMut(&mut Writer<'_>, &R, &mut Report) -> Result<Outcome, ImportError>,
) -> Result<(), ImportError> {
    let mut after = 0;
    loop {
        let rows = read(after, BATCH)?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = id(last);
        write_transaction(conn, |conn| {
            rows.iter().try_for_each(|row| {
                let outcome = write(conn, row, report)?;
                report.count(kind, id(row), outcome);
                Ok::<_, ImportError>(())
            })
        })?;
    }
}

/// A SHA-256 of a source row as imported, to tell at the next run whether it changed.
fn digest(row: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(row).unwrap_or_default();
    crate::tokens::random::sha256_hex(&json)
}
