//! What an import did: counts per kind of row, and every row skipped or changed on the way
//! with the reason (SPEC §11's `--json` object).

use std::fmt;

use serde::Serialize;

use crate::store::django_imports::ImportKind;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
}

/// A row not imported, or imported without something (kind `email`: a user without their
/// address). The reason may name a user or an address, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub kind: &'static str,
    pub django_id: i64,
    pub reason: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub users: Counts,
    pub applications: Counts,
    pub social_links: Counts,
    pub refresh_tokens: Counts,
    pub access_tokens: Counts,
    pub skipped: Vec<Skipped>,
}

/// What became of one source row.
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped(String),
}

impl Report {
    /// Counts what became of a row of `kind`, and lists it with its reason if skipped.
    pub fn count(&mut self, kind: ImportKind, django_id: i64, outcome: Outcome) {
        let counts = match kind {
            ImportKind::User => &mut self.users,
            ImportKind::Application => &mut self.applications,
            ImportKind::SocialLink => &mut self.social_links,
            ImportKind::RefreshToken => &mut self.refresh_tokens,
            ImportKind::AccessToken => &mut self.access_tokens,
        };
        match outcome {
            Outcome::Created => counts.created += 1,
            Outcome::Updated => counts.updated += 1,
            Outcome::Unchanged => {}
            Outcome::Skipped(reason) => {
                counts.skipped += 1;
                self.skipped.push(Skipped { kind: kind.as_str(), django_id, reason });
            }
        }
    }

    /// A remark on a row that was imported all the same (a user without their email).
    pub fn note(&mut self, kind: &'static str, django_id: i64, reason: String) {
        self.skipped.push(Skipped { kind, django_id, reason });
    }
}

/// The short table printed without `--json`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<16}{:>9}{:>9}{:>9}", "", "created", "updated", "skipped")?;
        for (name, c) in [
            ("users", self.users),
            ("applications", self.applications),
            ("social links", self.social_links),
            ("refresh tokens", self.refresh_tokens),
            ("access tokens", self.access_tokens),
        ] {
            writeln!(f, "{name:<16}{:>9}{:>9}{:>9}", c.created, c.updated, c.skipped)?;
        }
        for s in &self.skipped {
            writeln!(f, "skipped {} {}: {}", s.kind, s.django_id, s.reason)?;
        }
        Ok(())
    }
}
