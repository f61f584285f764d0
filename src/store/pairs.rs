//! Writing a refresh record and its access record, optionally claiming the parent
//! refresh token first (a rotation).
//!
//! On PostgreSQL the claim and both inserts are one statement with data-modifying
//! CTEs: atomic without BEGIN and COMMIT, and one round trip instead of five. Its
//! UPDATE still decides concurrent rotations (READ COMMITTED re-checks `used_at IS
//! NULL` on the row a concurrent winner updated, so the loser inserts nothing). On
//! SQLite, where a statement costs no round trip, the same writes run as separate
//! statements in a savepoint.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};

use super::tokens::{AccessRecord, NewAccess, NewRefresh, RefreshRecord};
use crate::db::DbConnection;

/// Inserts `refresh` and `access` (whose `refresh_token_id` is set to the new
/// record), after claiming `claim` = (parent id, time) when given. Returns the new
/// refresh record's id, or `None` when another request had already claimed the parent.
pub fn insert_pair(
    conn: &mut DbConnection,
    claim: Option<(i64, i64)>,
    refresh: &NewRefresh<'_>,
    access: &NewAccess<'_>,
) -> QueryResult<Option<i64>> {
    match conn {
        DbConnection::Pg(pg) => {
            let ids: Vec<i64> = match claim {
                Some((parent_id, now)) => {
                    PairStatement::<true> { parent_id, now, refresh, access }.get_results(pg)?
                }
                None => PairStatement::<false> { parent_id: 0, now: 0, refresh, access }.get_results(pg)?,
            };
            Ok(ids.into_iter().next())
        }
        DbConnection::Sqlite(_) => conn.transaction(|conn| {
            if let Some((parent_id, now)) = claim {
                if !RefreshRecord::claim(conn, parent_id, now)? {
                    return Ok(None);
                }
            }
            let id = RefreshRecord::insert(conn, refresh)?;
            AccessRecord::insert(conn, &NewAccess { refresh_token_id: Some(id), ..*access })?;
            Ok(Some(id))
        }),
    }
}

/// The PostgreSQL statement; `CLAIM` selects its shape, so each shape is prepared and
/// cached once.
struct PairStatement<'a, const CLAIM: bool> {
    parent_id: i64,
    now: i64,
    refresh: &'a NewRefresh<'a>,
    access: &'a NewAccess<'a>,
}

struct PairStatementId<const CLAIM: bool>;

impl<const CLAIM: bool> QueryId for PairStatement<'_, CLAIM> {
    type QueryId = PairStatementId<CLAIM>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const CLAIM: bool> diesel::query_builder::Query for PairStatement<'_, CLAIM> {
    type SqlType = BigInt;
}

impl<const CLAIM: bool> RunQueryDsl<PgConnection> for PairStatement<'_, CLAIM> {}

impl<const CLAIM: bool> QueryFragment<Pg> for PairStatement<'_, CLAIM> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (refresh, access) = (self.refresh, self.access);
        if CLAIM {
            out.push_sql("WITH claimed AS (UPDATE refresh_tokens SET used_at = ");
            out.push_bind_param::<BigInt, _>(&self.now)?;
            out.push_sql(" WHERE id = ");
            out.push_bind_param::<BigInt, _>(&self.parent_id)?;
            out.push_sql(" AND used_at IS NULL AND revoked_at IS NULL RETURNING id), child AS (");
        } else {
            out.push_sql("WITH child AS (");
        }
        out.push_sql(
            "INSERT INTO refresh_tokens (token_hash, family_id, parent_id, user_id, application_id, \
             scope, created_at, expires_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(refresh.token_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(refresh.family_id)?;
        if CLAIM {
            out.push_sql(", claimed.id, ");
        } else {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<BigInt>, _>(&refresh.parent_id)?;
            out.push_sql(", ");
        }
        out.push_bind_param::<BigInt, _>(&refresh.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&refresh.application_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(refresh.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&refresh.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&refresh.expires_at)?;
        out.push_sql(if CLAIM { " FROM claimed RETURNING id) " } else { " RETURNING id) " });
        out.push_sql(
            "INSERT INTO access_tokens (jti, user_id, application_id, refresh_token_id, family_id, \
             scope, created_at, expires_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(access.jti)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&access.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&access.application_id)?;
        out.push_sql(", child.id, ");
        out.push_bind_param::<Nullable<Text>, _>(&access.family_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(access.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&access.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&access.expires_at)?;
        out.push_sql(" FROM child RETURNING refresh_token_id");
        Ok(())
    }
}
