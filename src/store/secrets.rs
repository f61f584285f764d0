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
    let existing = |conn: &mut DbConnection| {
        server_secrets::table
            .filter(server_secrets::name.eq(name))
            .select(server_secrets::value)
            .get_result::<String>(conn)
            .optional()
    };
    if let Some(value) = existing(conn)? {
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
    existing(conn)?.ok_or(diesel::result::Error::NotFound)
}
