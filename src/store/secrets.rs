//! Server-wide secrets generated on first start and shared by every replica.

use diesel::prelude::*;

use super::schema::server_secrets;
use crate::db::{DbConnection, Writer};

/// Returns the named secret, creating it with `generate` if no replica has yet. A
/// concurrent first start may insert first; then its value is the one returned.
pub fn get_or_create(
    conn: &mut Writer<'_>,
    name: &str,
    generate: impl FnOnce() -> String,
) -> QueryResult<String> {
    if let Some(value) = get(conn, name)? {
        return Ok(value);
    }
    let inserted = diesel::insert_into(server_secrets::table)
        .values((
            server_secrets::name.eq(name),
            server_secrets::value.eq(generate()),
            server_secrets::created_at.eq(crate::time::now()),
        ))
        .execute(&mut **conn);
    match inserted {
        Ok(_) => {}
        Err(e) if crate::db::is_unique_violation(&e) => {}
        Err(e) => return Err(e),
    }
    get(conn, name)?.ok_or(diesel::result::Error::NotFound)
}

/// The named secret, if a server has made it.
pub fn get(conn: &mut DbConnection, name: &str) -> QueryResult<Option<String>> {
    server_secrets::table
        .filter(server_secrets::name.eq(name))
        .select(server_secrets::value)
        .get_result(conn)
        .optional()
}
