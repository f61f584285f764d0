//! Counted authentication attempts (failed sign-ins, sign-ups), shared by replicas.

use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::schema::auth_attempts;
use crate::db::{DbConnection, Writer};

pub fn record(conn: &mut Writer<'_>, kind: &str, subject: &str, at: i64) -> QueryResult<i64> {
    diesel::insert_into(auth_attempts::table)
        .values((
            auth_attempts::kind.eq(kind),
            auth_attempts::subject.eq(subject),
            auth_attempts::created_at.eq(at),
        ))
        .returning(auth_attempts::id)
        .get_result(&mut **conn)
}

pub fn remove(conn: &mut Writer<'_>, id: i64) -> QueryResult<usize> {
    diesel::delete(auth_attempts::table.find(id)).execute(&mut **conn)
}

/// How many attempts fall in the window starting at `since`, and when the oldest was.
pub fn count_since(
    conn: &mut DbConnection,
    kind: &str,
    subject: &str,
    since: i64,
) -> QueryResult<(i64, Option<i64>)> {
    auth_attempts::table
        .filter(auth_attempts::kind.eq(kind))
        .filter(auth_attempts::subject.eq(subject))
        .filter(auth_attempts::created_at.gt(since))
        .select((count_star(), min(auth_attempts::created_at)))
        .get_result(conn)
}

pub fn clear(conn: &mut Writer<'_>, kind: &str, subject: &str) -> QueryResult<usize> {
    diesel::delete(
        auth_attempts::table.filter(auth_attempts::kind.eq(kind)).filter(auth_attempts::subject.eq(subject)),
    )
    .execute(&mut **conn)
}
