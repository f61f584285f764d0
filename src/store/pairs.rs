//! Writing a refresh record and its access record, optionally after recording the
//! sign-in that starts the family (the user's `last_login` and an audit event).
//!
//! On PostgreSQL the sign-in and both inserts are one statement with data-modifying
//! CTEs: atomic without BEGIN and COMMIT, and one round trip instead of several. On
//! SQLite, where a statement costs no round trip, the same writes run as separate
//! statements in a savepoint.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable};

use super::audit::{self, NewAuditEvent};
use super::tokens::{AccessRecord, AccessRow, NewAccess, NewRefresh, RefreshRecord, RefreshRow, Source};
use super::users::User;
use crate::db::{DbConnection, Writer};

/// What comes before the pair is inserted.
#[derive(Clone, Copy)]
pub enum Before<'a> {
    Nothing,
    /// A sign-in: set the user's `last_login` to the event's time and record the event.
    SignIn(&'a NewAuditEvent<'a>),
}

/// Inserts `refresh` and `access` (whose `refresh_token_id` is set to the new record),
/// after `before`, atomically.
pub fn insert_pair(
    conn: &mut Writer<'_>,
    before: Before<'_>,
    refresh: &NewRefresh<'_>,
    access: &NewAccess<'_>,
) -> QueryResult<()> {
    match &mut **conn {
        DbConnection::Pg(pg) => {
            let (refresh, access) = (RefreshRow::from(refresh), child_access(access));
            match before {
                Before::Nothing => PairStatement::<0> { before, refresh, access }.execute(pg)?,
                Before::SignIn(_) => PairStatement::<SIGN_IN> { before, refresh, access }.execute(pg)?,
            };
            Ok(())
        }
        DbConnection::Sqlite(_) => conn.transaction(|conn| {
            if let Before::SignIn(event) = before {
                if let Some(user_id) = event.actor_user_id {
                    User::touch_last_login(conn, user_id, event.created_at)?;
                }
                audit::insert(conn, event)?;
            }
            insert_records(conn, refresh, access)
        }),
    }
}

/// The two records as separate statements, for SQLite: the refresh record, then the
/// access record pointing at it.
pub(super) fn insert_records(
    conn: &mut Writer<'_>,
    refresh: &NewRefresh<'_>,
    access: &NewAccess<'_>,
) -> QueryResult<()> {
    let id = RefreshRecord::insert(conn, refresh)?;
    AccessRecord::insert(conn, &NewAccess { refresh_token_id: Some(id), ..*access })?;
    Ok(())
}

/// `access`, pointing at the refresh record the statement's `child` CTE inserts.
fn child_access<'a>(access: &NewAccess<'a>) -> AccessRow<'a> {
    AccessRow { refresh_token_id: Source::Column("child.id"), ..AccessRow::from(access) }
}

const SIGN_IN: u8 = 1;

/// The PostgreSQL statement; `SHAPE` (0 or `SIGN_IN`, matching `before`) gives each
/// shape its own type, so each is prepared and cached once.
struct PairStatement<'a, const SHAPE: u8> {
    before: Before<'a>,
    refresh: RefreshRow<'a>,
    access: AccessRow<'a>,
}

struct PairStatementId<const SHAPE: u8>;

impl<const SHAPE: u8> QueryId for PairStatement<'_, SHAPE> {
    type QueryId = PairStatementId<SHAPE>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const SHAPE: u8> RunQueryDsl<PgConnection> for PairStatement<'_, SHAPE> {}

impl<const SHAPE: u8> QueryFragment<Pg> for PairStatement<'_, SHAPE> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH ");
        if let Before::SignIn(event) = &self.before {
            // Unreferenced data-modifying CTEs still run, exactly once.
            out.push_sql("touched AS (UPDATE users SET last_login = ");
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
        }
        out.push_sql("child AS (");
        self.refresh.push_insert(&mut out)?;
        out.push_sql(" RETURNING id) ");
        self.access.push_insert(&mut out)?;
        out.push_sql(" FROM child");
        Ok(())
    }
}
