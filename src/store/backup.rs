//! An online copy of an SQLite database (`portcullis backup`). PostgreSQL has its own tools.

use diesel::connection::SimpleConnection;
use diesel::QueryResult;

use crate::db::DbConnection;

/// Whether this database can copy itself: SQLite can, PostgreSQL is copied with pg_dump.
pub fn can_copy(conn: &DbConnection) -> bool {
    matches!(conn, DbConnection::Sqlite(_))
}

/// Writes a consistent copy of the SQLite database to `path` with `VACUUM INTO`: one read
/// transaction, so servers go on writing meanwhile, and the copy is compact and needs no
/// WAL file beside it. SQLite refuses a `path` that already exists.
pub fn copy_to(conn: &mut DbConnection, path: &str) -> QueryResult<()> {
    if let DbConnection::Sqlite(lite) = conn {
        // A string literal in SQL: quotes doubled, nothing else can end it.
        lite.batch_execute(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))?;
    }
    Ok(())
}
