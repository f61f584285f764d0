//! A refresh-token rotation: the presented token is claimed and its child pair written,
//! if the token qualifies (unused, unexpired, unrevoked, the presenting client's, and
//! its user active). Whether it qualified or not, the caller gets the record as it
//! stood, to explain a refusal.
//!
//! On PostgreSQL this is one statement: every CTE reads the snapshot the statement
//! began with, and the UPDATE re-checks `used_at IS NULL` on the newest version of the
//! row (READ COMMITTED), so a concurrent winner still decides the race, and the loser
//! gets the record as it stood before. On SQLite, where a statement costs no round
//! trip, the lookup, the claim and the inserts are separate statements, the writes in
//! a savepoint.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::pairs::insert_records;
use super::tokens::{AccessRow, NewAccess, NewRefresh, RefreshRecord, RefreshRow, Source};
use crate::db::{DbConnection, Writer};
use crate::tokens::random::TokenKey;

/// What a rotation writes; the rest of the child comes from the presented token's record.
pub struct RotationWrite<'a> {
    /// The key the presented token is stored under.
    pub presented_key: &'a TokenKey,
    pub application_id: i64,
    pub now: i64,
    /// A narrower scope for the child; `None` keeps the parent's.
    pub scope: Option<&'a str>,
    /// The child's key and its access token's `jti`.
    pub child_key: &'a TokenKey,
    pub jti: &'a str,
    pub refresh_expires_at: i64,
    pub access_expires_at: i64,
}

/// What became of the presented token.
pub enum Rotation<T = RefreshRecord> {
    /// Claimed, and the child pair written: the record as it stood before (the
    /// issuer's answer carries the child instead).
    Rotated(T),
    /// Not rotated: it did not qualify, or a concurrent request claimed it first.
    Refused { record: RefreshRecord, user_active: bool },
    /// No record has the presented key.
    Unknown,
}

pub fn rotate(conn: &mut Writer<'_>, write: &RotationWrite<'_>) -> QueryResult<Rotation> {
    match &mut **conn {
        DbConnection::Pg(pg) => {
            let outcome: Option<(RefreshRecord, bool, Option<i64>)> =
                RotateStatement::new(write).get_result(pg).optional()?;
            Ok(match outcome {
                None => Rotation::Unknown,
                Some((record, _, Some(_))) => Rotation::Rotated(record),
                Some((record, user_active, None)) => Rotation::Refused { record, user_active },
            })
        }
        DbConnection::Sqlite(_) => {
            let Some((record, user)) = RefreshRecord::find_with_user(conn, write.presented_key)? else {
                return Ok(Rotation::Unknown);
            };
            let qualifies = record.application_id == write.application_id
                && record.used_at.is_none()
                && record.revoked_at.is_none()
                && user.is_active
                && record.expires_at > write.now;
            let refused = |record| Rotation::Refused { record, user_active: user.is_active };
            if !qualifies {
                return Ok(refused(record));
            }
            let rotated = conn.transaction(|conn| {
                if !RefreshRecord::claim(conn, record.id, write.now)? {
                    return Ok(false);
                }
                let (refresh, access) = child_of(&record, write);
                insert_records(conn, &refresh, &access)?;
                Ok::<_, diesel::result::Error>(true)
            })?;
            Ok(if rotated { Rotation::Rotated(record) } else { refused(record) })
        }
    }
}

/// The child pair of `parent`, for SQLite's separate statements.
fn child_of<'a>(parent: &'a RefreshRecord, write: &'a RotationWrite<'a>) -> (NewRefresh<'a>, NewAccess<'a>) {
    let scope = write.scope.unwrap_or(&parent.scope);
    let refresh = NewRefresh {
        token_hash: write.child_key.as_str(),
        family_id: &parent.family_id,
        parent_id: Some(parent.id),
        user_id: parent.user_id,
        application_id: write.application_id,
        scope,
        created_at: write.now,
        expires_at: write.refresh_expires_at,
    };
    let access = NewAccess {
        jti: write.jti,
        user_id: Some(parent.user_id),
        application_id: write.application_id,
        refresh_token_id: None,
        family_id: Some(&parent.family_id),
        scope,
        created_at: write.now,
        expires_at: write.access_expires_at,
    };
    (refresh, access)
}

struct RotateStatement<'a> {
    write: &'a RotationWrite<'a>,
    child: RefreshRow<'a>,
    access: AccessRow<'a>,
}

struct RotateStatementId;

impl QueryId for RotateStatement<'_> {
    type QueryId = RotateStatementId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

type RecordColumns = (
    BigInt,
    Text,
    Text,
    Nullable<BigInt>,
    BigInt,
    BigInt,
    Text,
    BigInt,
    BigInt,
    Nullable<BigInt>,
    Nullable<BigInt>,
);

impl diesel::query_builder::Query for RotateStatement<'_> {
    type SqlType = (RecordColumns, Bool, Nullable<BigInt>);
}

impl RunQueryDsl<PgConnection> for RotateStatement<'_> {}

impl QueryFragment<Pg> for RotateStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let w = self.write;
        // The columns in `RefreshRecord`'s order, then the user's `is_active`.
        out.push_sql(
            "WITH seen AS (SELECT t.id, t.token_hash, t.family_id, t.parent_id, t.user_id, \
             t.application_id, t.scope, t.created_at, t.expires_at, t.used_at, t.revoked_at, \
             u.is_active FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ",
        );
        out.push_bind_param::<Text, _>(w.presented_key.as_str())?;
        out.push_sql("), claimed AS (UPDATE refresh_tokens SET used_at = ");
        out.push_bind_param::<BigInt, _>(&w.now)?;
        out.push_sql(" WHERE id = (SELECT id FROM seen WHERE application_id = ");
        out.push_bind_param::<BigInt, _>(&w.application_id)?;
        out.push_sql(" AND used_at IS NULL AND revoked_at IS NULL AND is_active AND expires_at > ");
        out.push_bind_param::<BigInt, _>(&w.now)?;
        out.push_sql(") AND used_at IS NULL AND revoked_at IS NULL RETURNING id, family_id, user_id, ");
        // The child's scope: the narrower one asked for, or the parent's.
        out.push_sql("COALESCE(");
        out.push_bind_param::<Nullable<Text>, _>(&w.scope)?;
        out.push_sql(", scope) AS scope), child AS (");
        self.child.push_insert(&mut out)?;
        out.push_sql(" FROM claimed RETURNING id, family_id, user_id, scope), issued AS (");
        self.access.push_insert(&mut out)?;
        out.push_sql(
            " FROM child RETURNING refresh_token_id) SELECT seen.id, seen.token_hash, \
             seen.family_id, seen.parent_id, seen.user_id, seen.application_id, seen.scope, \
             seen.created_at, seen.expires_at, seen.used_at, seen.revoked_at, seen.is_active, \
             (SELECT refresh_token_id FROM issued) FROM seen",
        );
        Ok(())
    }
}

impl<'a> RotateStatement<'a> {
    /// The child pair's values: bound where the write gives them, else from the claimed
    /// parent (`claimed`, then `child`).
    fn new(write: &'a RotationWrite<'a>) -> Self {
        let child = RefreshRow {
            token_hash: Source::Bound(write.child_key.as_str()),
            family_id: Source::Column("family_id"),
            parent_id: Source::Column("id"),
            user_id: Source::Column("user_id"),
            application_id: Source::Bound(write.application_id),
            scope: Source::Column("scope"),
            created_at: Source::Bound(write.now),
            expires_at: Source::Bound(write.refresh_expires_at),
        };
        let access = AccessRow {
            jti: Source::Bound(write.jti),
            user_id: Source::Column("user_id"),
            application_id: Source::Bound(write.application_id),
            refresh_token_id: Source::Column("id"),
            family_id: Source::Column("family_id"),
            scope: Source::Column("scope"),
            created_at: Source::Bound(write.now),
            expires_at: Source::Bound(write.access_expires_at),
        };
        RotateStatement { write, child, access }
    }
}
