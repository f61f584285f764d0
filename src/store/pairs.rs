//! Writing a refresh record and its access record, optionally claiming the parent
//! refresh token first (a rotation), or recording the sign-in that starts the family
//! (the user's `last_login` and an audit event).
//!
//! On PostgreSQL the claim or the sign-in and both inserts are one statement with
//! data-modifying CTEs: atomic without BEGIN and COMMIT, and one round trip instead of
//! five. Its
//! UPDATE still decides concurrent rotations (READ COMMITTED re-checks `used_at IS
//! NULL` on the row a concurrent winner updated, so the loser inserts nothing). On
//! SQLite, where a statement costs no round trip, the same writes run as separate
//! statements in a savepoint.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};

use super::audit::{self, NewAuditEvent};
use super::tokens::{AccessRecord, NewAccess, NewRefresh, RefreshRecord};
use super::users::User;
use crate::db::DbConnection;

/// What comes before the pair is inserted.
#[derive(Clone, Copy)]
pub enum Before<'a> {
    Nothing,
    /// A rotation: mark the parent (id) used at the time given, if nobody has.
    Claim(i64, i64),
    /// A sign-in: set the user's `last_login` to the event's time and record the event.
    SignIn(&'a NewAuditEvent<'a>),
}

/// Inserts `refresh` and `access` (whose `refresh_token_id` is set to the new
/// record), after `before`. Returns the new refresh record's id, or `None` when another
/// request had already claimed the parent.
pub fn insert_pair(
    conn: &mut DbConnection,
    before: Before<'_>,
    refresh: &NewRefresh<'_>,
    access: &NewAccess<'_>,
) -> QueryResult<Option<i64>> {
    match conn {
        DbConnection::Pg(pg) => {
            let ids: Vec<i64> = match before {
                Before::Nothing => PairStatement::<0> { before, refresh, access }.get_results(pg)?,
                Before::Claim(..) => PairStatement::<CLAIM> { before, refresh, access }.get_results(pg)?,
                Before::SignIn(_) => PairStatement::<SIGN_IN> { before, refresh, access }.get_results(pg)?,
            };
            Ok(ids.into_iter().next())
        }
        DbConnection::Sqlite(_) => conn.transaction(|conn| {
            match before {
                Before::Nothing => {}
                Before::Claim(parent_id, now) => {
                    if !RefreshRecord::claim(conn, parent_id, now)? {
                        return Ok(None);
                    }
                }
                Before::SignIn(event) => {
                    if let Some(user_id) = event.actor_user_id {
                        User::touch_last_login(conn, user_id, event.created_at)?;
                    }
                    audit::insert(conn, event)?;
                }
            }
            let id = RefreshRecord::insert(conn, refresh)?;
            AccessRecord::insert(conn, &NewAccess { refresh_token_id: Some(id), ..*access })?;
            Ok(Some(id))
        }),
    }
}

const CLAIM: u8 = 1;
const SIGN_IN: u8 = 2;

/// The PostgreSQL statement; `SHAPE` (0, `CLAIM` or `SIGN_IN`, matching `before`)
/// gives each shape its own type, so each is prepared and cached once.
struct PairStatement<'a, const SHAPE: u8> {
    before: Before<'a>,
    refresh: &'a NewRefresh<'a>,
    access: &'a NewAccess<'a>,
}

struct PairStatementId<const SHAPE: u8>;

impl<const SHAPE: u8> QueryId for PairStatement<'_, SHAPE> {
    type QueryId = PairStatementId<SHAPE>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const SHAPE: u8> diesel::query_builder::Query for PairStatement<'_, SHAPE> {
    type SqlType = BigInt;
}

impl<const SHAPE: u8> RunQueryDsl<PgConnection> for PairStatement<'_, SHAPE> {}

impl<const SHAPE: u8> QueryFragment<Pg> for PairStatement<'_, SHAPE> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (refresh, access) = (self.refresh, self.access);
        let claimed = match &self.before {
            Before::Nothing => {
                out.push_sql("WITH ");
                false
            }
            Before::Claim(parent_id, now) => {
                out.push_sql("WITH claimed AS (UPDATE refresh_tokens SET used_at = ");
                out.push_bind_param::<BigInt, _>(now)?;
                out.push_sql(" WHERE id = ");
                out.push_bind_param::<BigInt, _>(parent_id)?;
                out.push_sql(" AND used_at IS NULL AND revoked_at IS NULL RETURNING id), ");
                true
            }
            Before::SignIn(event) => {
                // Unreferenced data-modifying CTEs still run, exactly once.
                out.push_sql("WITH touched AS (UPDATE users SET last_login = ");
                out.push_bind_param::<BigInt, _>(&event.created_at)?;
                out.push_sql(" WHERE id = ");
                out.push_bind_param::<Nullable<BigInt>, _>(&event.actor_user_id)?;
                out.push_sql(
                    "), audited AS (INSERT INTO audit_events (created_at, actor_user_id, action, \
                              target_type, target_id, ip, detail) VALUES (",
                );
                out.push_bind_param::<BigInt, _>(&event.created_at)?;
                out.push_sql(", ");
                out.push_bind_param::<Nullable<BigInt>, _>(&event.actor_user_id)?;
                event.push_fields(&mut out)?;
                out.push_sql(")), ");
                false
            }
        };
        out.push_sql("child AS (");
        out.push_sql(
            "INSERT INTO refresh_tokens (token_hash, family_id, parent_id, user_id, application_id, \
             scope, created_at, expires_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(refresh.token_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(refresh.family_id)?;
        if claimed {
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
        out.push_sql(if claimed { " FROM claimed RETURNING id) " } else { " RETURNING id) " });
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
