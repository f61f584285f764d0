//! Authorization codes and signed-in browser sessions. Both are stored by the SHA-256 of
//! a random value the browser or client holds, never by the value itself.

use diesel::prelude::*;

use super::schema::{authorization_codes, browser_sessions};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = authorization_codes)]
pub struct CodeRecord {
    pub id: i64,
    pub code_hash: String,
    pub application_id: i64,
    pub user_id: i64,
    pub redirect_uri: String,
    pub scope: String,
    pub pkce: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub application_id: i64,
    pub user_id: i64,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub pkce: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl CodeRecord {
    pub fn insert(conn: &mut DbConnection, new: &NewCode<'_>) -> QueryResult<usize> {
        diesel::insert_into(authorization_codes::table).values(new).execute(conn)
    }

    /// Takes the code out: whoever deletes the row owns it, so a code is used at most
    /// once even when two exchanges race (on one node or two).
    pub fn take(conn: &mut DbConnection, code_hash: &str) -> QueryResult<Option<CodeRecord>> {
        let Some(found) = authorization_codes::table
            .filter(authorization_codes::code_hash.eq(code_hash))
            .select(CodeRecord::as_select())
            .get_result(conn)
            .optional()?
        else {
            return Ok(None);
        };
        let deleted = diesel::delete(authorization_codes::table.find(found.id)).execute(conn)?;
        Ok((deleted == 1).then_some(found))
    }

    /// Drops codes past their expiry (they can never be exchanged).
    pub fn prune(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
        diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.lt(now)))
            .execute(conn)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = browser_sessions)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn create_session(conn: &mut DbConnection, new: &NewSession<'_>) -> QueryResult<usize> {
    diesel::insert_into(browser_sessions::table).values(new).execute(conn)
}

/// The user a live session belongs to.
pub fn session_user(conn: &mut DbConnection, token_hash: &str, now: i64) -> QueryResult<Option<i64>> {
    browser_sessions::table
        .filter(browser_sessions::token_hash.eq(token_hash))
        .filter(browser_sessions::expires_at.gt(now))
        .select(browser_sessions::user_id)
        .get_result(conn)
        .optional()
}

pub fn end_session(conn: &mut DbConnection, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(browser_sessions::table.filter(browser_sessions::token_hash.eq(token_hash))).execute(conn)
}
