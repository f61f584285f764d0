//! Authorization codes, signed-in browser sessions and sign-ins in flight at a provider.
//! Each is stored by the SHA-256 of a random value the browser or client holds, never by
//! the value itself.

use diesel::helper_types::Returning;
use diesel::prelude::*;
use diesel::query_builder::{DeleteStatement, IntoUpdateTarget};
use diesel::query_dsl::methods::LoadQuery;

use super::schema::{authorization_codes, browser_sessions, provider_logins};
use crate::db::{DbConnection, Writer};

/// Deletes the row `target` finds and returns it. Whoever deletes the row owns it, so a
/// single-use value (a code, a sign-in's state) is used at most once even when two
/// requests race for it (on one node or two). Checking it (expiry, who may use it) is
/// the caller's, on the row taken: a row taken and refused is gone all the same.
fn take<'q, Target, Row>(conn: &mut Writer<'_>, target: Target) -> QueryResult<Option<Row>>
where
    Target: IntoUpdateTarget,
    Target::Table: Table,
    <Target::Table as Table>::AllColumns: SelectableExpression<Target::Table>,
    Returning<DeleteStatement<Target::Table, Target::WhereClause>, <Target::Table as Table>::AllColumns>:
        LoadQuery<'q, DbConnection, Row>,
{
    diesel::delete(target).returning(Target::Table::all_columns()).get_result(conn).optional()
}

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
    /// The OpenID Connect request's `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// When the user signed in to the browser session that approved the code.
    pub auth_time: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = authorization_codes, treat_none_as_default_value = false)]
pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub application_id: i64,
    pub user_id: i64,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub pkce: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
    pub nonce: Option<&'a str>,
    pub auth_time: Option<i64>,
}

impl CodeRecord {
    pub fn insert(conn: &mut Writer<'_>, new: &NewCode<'_>) -> QueryResult<usize> {
        // Codes nobody exchanged are dropped as new ones are made (the table stays small).
        diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.lt(new.created_at)))
            .execute(&mut **conn)?;
        diesel::insert_into(authorization_codes::table).values(new).execute(&mut **conn)
    }

    /// Takes the code out (see `take`): a code is used at most once.
    pub fn take(conn: &mut Writer<'_>, code_hash: &str) -> QueryResult<Option<CodeRecord>> {
        take(conn, authorization_codes::table.filter(authorization_codes::code_hash.eq(code_hash)))
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

pub fn create_session(conn: &mut Writer<'_>, new: &NewSession<'_>) -> QueryResult<usize> {
    // The user's own expired sessions go as a new one starts (by the user_id index).
    diesel::delete(
        browser_sessions::table
            .filter(browser_sessions::user_id.eq(new.user_id))
            .filter(browser_sessions::expires_at.lt(new.created_at)),
    )
    .execute(&mut **conn)?;
    diesel::insert_into(browser_sessions::table).values(new).execute(&mut **conn)
}

/// The user a live session belongs to, and when they signed in to it.
pub fn session_user(conn: &mut DbConnection, token_hash: &str, now: i64) -> QueryResult<Option<(i64, i64)>> {
    browser_sessions::table
        .filter(browser_sessions::token_hash.eq(token_hash))
        .filter(browser_sessions::expires_at.gt(now))
        .select((browser_sessions::user_id, browser_sessions::created_at))
        .get_result(conn)
        .optional()
}

pub fn end_session(conn: &mut Writer<'_>, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(browser_sessions::table.filter(browser_sessions::token_hash.eq(token_hash)))
        .execute(&mut **conn)
}

/// Signs every browser of a user out (its password changed).
pub fn end_user_sessions(conn: &mut Writer<'_>, user_id: i64) -> QueryResult<usize> {
    diesel::delete(browser_sessions::table.filter(browser_sessions::user_id.eq(user_id))).execute(&mut **conn)
}

/// Signed-in browsers whose session has not expired.
pub fn live_sessions(conn: &mut DbConnection, now: i64) -> QueryResult<i64> {
    browser_sessions::table.filter(browser_sessions::expires_at.gt(now)).count().get_result(conn)
}

/// A sign-in at Google or Facebook that the browser was sent to and has not come back from.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provider_logins)]
pub struct ProviderLogin {
    pub id: i64,
    pub state_hash: String,
    pub session_hash: String,
    pub backend: String,
    pub code_verifier: Option<String>,
    pub nonce: Option<String>,
    /// The query string of the authorization request to resume.
    pub pending: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = provider_logins, treat_none_as_default_value = false)]
pub struct NewProviderLogin<'a> {
    pub state_hash: &'a str,
    pub session_hash: &'a str,
    pub backend: &'a str,
    pub code_verifier: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub pending: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

impl ProviderLogin {
    pub fn insert(conn: &mut Writer<'_>, new: &NewProviderLogin<'_>) -> QueryResult<usize> {
        // Abandoned sign-ins are dropped whenever a new one starts.
        diesel::delete(provider_logins::table.filter(provider_logins::expires_at.lt(new.created_at)))
            .execute(&mut **conn)?;
        diesel::insert_into(provider_logins::table).values(new).execute(&mut **conn)
    }

    /// Takes the sign-in out (see `take`): a state is used at most once.
    pub fn take(conn: &mut Writer<'_>, state_hash: &str) -> QueryResult<Option<ProviderLogin>> {
        take(conn, provider_logins::table.filter(provider_logins::state_hash.eq(state_hash)))
    }

    /// The newest sign-in this browser started, to find its way back to the sign-in page
    /// when the provider's answer cannot be trusted.
    pub fn latest_for_session(
        conn: &mut DbConnection,
        session_hash: &str,
        now: i64,
    ) -> QueryResult<Option<ProviderLogin>> {
        provider_logins::table
            .filter(provider_logins::session_hash.eq(session_hash))
            .filter(provider_logins::expires_at.ge(now))
            .order(provider_logins::id.desc())
            .select(ProviderLogin::as_select())
            .first(conn)
            .optional()
    }
}
