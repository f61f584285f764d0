//! The janitor's deletes (SPEC §14). Each call removes at most `limit` rows of one kind,
//! oldest first, in one short statement (or one short transaction), so no lock is held for
//! long and requests go on between batches. On PostgreSQL the rows a batch takes are
//! locked with SKIP LOCKED: janitors on several replicas split the rows between them, and
//! none waits on another or deletes a row twice. On SQLite the batches go through the one
//! writer like every other write.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{access_tokens, openid_sign_ins, refresh_tokens};
use crate::db::{write_transaction, DbConnection, Writer};

/// What the janitor removes, each with the name `/metrics` reports it under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Access-token records past their expiry.
    ExpiredAccessTokens,
    /// Families whose newest refresh token is revoked or expired: every refresh token of
    /// the family, its access-token records and its OpenID Connect sign-in time.
    DeadFamilies,
    /// Used refresh tokens of live families, once expired and with no access record left
    /// (a record's revocation is read through its refresh token). An expired token is
    /// refused before its use is looked at, so it no longer catches a replay; without
    /// this, a session refreshed for months would keep every token it ever used.
    UsedRefreshTokens,
    AuthorizationCodes,
    BrowserSessions,
    ProviderLogins,
    EmailTokens,
    /// Throttle counters past every window that counts them.
    Attempts,
    AuditEvents,
    /// Retired signing keys no longer published.
    RetiredKeys,
}

impl Sweep {
    /// In this order: the used refresh tokens go after the access records they back.
    pub const ALL: [Sweep; 10] = [
        Sweep::ExpiredAccessTokens,
        Sweep::DeadFamilies,
        Sweep::UsedRefreshTokens,
        Sweep::AuthorizationCodes,
        Sweep::BrowserSessions,
        Sweep::ProviderLogins,
        Sweep::EmailTokens,
        Sweep::Attempts,
        Sweep::AuditEvents,
        Sweep::RetiredKeys,
    ];
}

/// The times before which rows go.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub now: i64,
    pub attempts_before: i64,
    pub audit_before: i64,
}

/// What one batch deleted, by table, and whether it took as many rows as it was allowed
/// (then there may be more).
#[derive(Debug, Default)]
pub struct Batch {
    pub deleted: Vec<(&'static str, usize)>,
    pub more: bool,
}

/// Deletes one batch of `sweep`.
pub fn sweep(conn: &mut Writer<'_>, sweep: Sweep, cutoffs: &Cutoffs, limit: i64) -> QueryResult<Batch> {
    let Cutoffs { now, attempts_before, audit_before } = *cutoffs;
    let simple = |table: &'static str, condition: String| (table, condition);
    let (table, condition) = match sweep {
        Sweep::DeadFamilies => return dead_families(conn, now, limit),
        Sweep::ExpiredAccessTokens => simple("access_tokens", format!("expires_at < {now}")),
        Sweep::UsedRefreshTokens => simple(
            "refresh_tokens",
            format!(
                "used_at IS NOT NULL AND expires_at < {now} AND NOT EXISTS \
                 (SELECT 1 FROM access_tokens WHERE access_tokens.refresh_token_id = refresh_tokens.id)"
            ),
        ),
        Sweep::AuthorizationCodes => simple("authorization_codes", format!("expires_at < {now}")),
        Sweep::BrowserSessions => simple("browser_sessions", format!("expires_at < {now}")),
        Sweep::ProviderLogins => simple("provider_logins", format!("expires_at < {now}")),
        Sweep::EmailTokens => simple("email_tokens", format!("expires_at < {now}")),
        Sweep::Attempts => simple("auth_attempts", format!("created_at < {attempts_before}")),
        Sweep::AuditEvents => simple("audit_events", format!("created_at < {audit_before}")),
        Sweep::RetiredKeys => simple("signing_keys", format!("publish_until < {now}")),
    };
    // The conditions are built from integers only: nothing a request sent reaches this SQL.
    let deleted = match &mut **conn {
        DbConnection::Pg(pg) => diesel::sql_query(format!(
            "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {condition} ORDER BY id \
             LIMIT {limit} FOR UPDATE SKIP LOCKED)"
        ))
        .execute(pg)?,
        DbConnection::Sqlite(lite) => diesel::sql_query(format!(
            "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {condition} ORDER BY id LIMIT {limit})"
        ))
        .execute(lite)?,
    };
    Ok(Batch { deleted: vec![(table, deleted)], more: deleted as i64 >= limit })
}

#[derive(QueryableByName)]
struct Family {
    #[diesel(sql_type = Text)]
    family_id: String,
}

/// A family is dead once its newest token (the one not yet used) is revoked or expired:
/// every older token of it was used, so none can be refreshed again. Its access-token
/// records go with it, so no record outlives the refresh token it is revoked through.
fn dead_families(conn: &mut Writer<'_>, now: i64, limit: i64) -> QueryResult<Batch> {
    // The write lock first: `portcullis prune` beside a server on SQLite waits for it
    // instead of failing between its read and its deletes.
    write_transaction(conn, |conn| {
        let heads = "SELECT family_id FROM refresh_tokens WHERE used_at IS NULL AND \
                     (revoked_at IS NOT NULL OR expires_at < $1) ORDER BY id LIMIT $2";
        let families: Vec<Family> = match &mut **conn {
            DbConnection::Pg(pg) => diesel::sql_query(format!("{heads} FOR UPDATE SKIP LOCKED"))
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(limit)
                .load(pg)?,
            DbConnection::Sqlite(lite) => diesel::sql_query(heads.replace("$1", "?").replace("$2", "?"))
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(limit)
                .load(lite)?,
        };
        let ids: Vec<String> = families.into_iter().map(|f| f.family_id).collect();
        if ids.is_empty() {
            return Ok(Batch::default());
        }
        let access = diesel::delete(access_tokens::table.filter(access_tokens::family_id.eq_any(&ids)))
            .execute(&mut **conn)?;
        let openid = diesel::delete(openid_sign_ins::table.filter(openid_sign_ins::family_id.eq_any(&ids)))
            .execute(&mut **conn)?;
        let refresh = diesel::delete(refresh_tokens::table.filter(refresh_tokens::family_id.eq_any(&ids)))
            .execute(&mut **conn)?;
        Ok(Batch {
            deleted: vec![
                ("refresh_tokens", refresh),
                ("access_tokens", access),
                ("openid_sign_ins", openid),
            ],
            more: ids.len() as i64 >= limit,
        })
    })
}

/// A table's size as the database estimates it without counting: PostgreSQL's planner
/// statistics, or the span of SQLite's rowids (an upper bound).
pub fn row_estimate(conn: &mut DbConnection, table: &str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Estimate {
        #[diesel(sql_type = BigInt)]
        estimate: i64,
    }
    let estimate: Estimate = match conn {
        DbConnection::Pg(pg) => diesel::sql_query(
            "SELECT GREATEST(reltuples, 0)::BIGINT AS estimate FROM pg_class WHERE relname = $1 AND relkind = 'r'",
        )
        .bind::<Text, _>(table)
        .get_result(pg)?,
        DbConnection::Sqlite(lite) => diesel::sql_query(format!(
            "SELECT COALESCE(MAX(rowid) - MIN(rowid) + 1, 0) AS estimate FROM {table}"
        ))
        .get_result(lite)?,
    };
    Ok(estimate.estimate)
}
