//! A refresh-token rotation in one PostgreSQL statement: the common case (the token is
//! unused, unexpired, unrevoked, the presenting client's, and its user is active) costs
//! one round trip instead of a lookup and then the write.
//!
//! The statement reads the record as it stood when the statement began (every CTE
//! shares one snapshot), and rotates it only if that version qualifies. The UPDATE
//! re-checks `used_at IS NULL` on the newest version of the row (READ COMMITTED), so a
//! concurrent winner still decides the race. The caller gets the record as it was,
//! whether its user is active, and the new refresh record's id when this statement
//! rotated it: the same facts `tokens::refresh::rotate` decides on after a lookup.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::tokens::RefreshRecord;

/// What is written when the presented token qualifies; the rest comes from its record.
pub struct Rotated<'a> {
    pub presented_hash: &'a str,
    pub application_id: i64,
    pub now: i64,
    pub token_hash: &'a str,
    pub refresh_expires_at: i64,
    pub jti: &'a str,
    pub access_expires_at: i64,
}

/// The presented token's record before the statement, whether its user is active,
/// and the new refresh record's id if the statement rotated it.
pub type Outcome = (RefreshRecord, bool, Option<i64>);

/// `None` when no refresh record has the presented hash.
pub fn rotate(conn: &mut PgConnection, rotated: &Rotated<'_>) -> QueryResult<Option<Outcome>> {
    RotateStatement(rotated).get_result(conn).optional()
}

struct RotateStatement<'a>(&'a Rotated<'a>);

impl QueryId for RotateStatement<'_> {
    type QueryId = RotateStatement<'static>;
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
        let r = self.0;
        // The columns in `RefreshRecord`'s order, then the user's `is_active`.
        out.push_sql(
            "WITH seen AS (SELECT t.id, t.token_hash, t.family_id, t.parent_id, t.user_id, \
             t.application_id, t.scope, t.created_at, t.expires_at, t.used_at, t.revoked_at, \
             u.is_active FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ",
        );
        out.push_bind_param::<Text, _>(r.presented_hash)?;
        out.push_sql("), claimed AS (UPDATE refresh_tokens SET used_at = ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(" WHERE id = (SELECT id FROM seen WHERE application_id = ");
        out.push_bind_param::<BigInt, _>(&r.application_id)?;
        out.push_sql(" AND used_at IS NULL AND revoked_at IS NULL AND is_active AND expires_at > ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(
            ") AND used_at IS NULL AND revoked_at IS NULL RETURNING id, family_id, user_id, scope), \
             child AS (INSERT INTO refresh_tokens (token_hash, family_id, parent_id, user_id, \
             application_id, scope, created_at, expires_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(r.token_hash)?;
        out.push_sql(", family_id, id, user_id, ");
        out.push_bind_param::<BigInt, _>(&r.application_id)?;
        out.push_sql(", scope, ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&r.refresh_expires_at)?;
        out.push_sql(
            " FROM claimed RETURNING id, family_id, user_id, scope), issued AS (INSERT INTO \
             access_tokens (jti, user_id, application_id, refresh_token_id, family_id, scope, \
             created_at, expires_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(r.jti)?;
        out.push_sql(", user_id, ");
        out.push_bind_param::<BigInt, _>(&r.application_id)?;
        out.push_sql(", id, family_id, scope, ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&r.access_expires_at)?;
        out.push_sql(
            " FROM child RETURNING refresh_token_id) SELECT seen.id, seen.token_hash, \
             seen.family_id, seen.parent_id, seen.user_id, seen.application_id, seen.scope, \
             seen.created_at, seen.expires_at, seen.used_at, seen.revoked_at, seen.is_active, \
             (SELECT refresh_token_id FROM issued) FROM seen",
        );
        Ok(())
    }
}
