//! The schema migrations embedded in the binary, one set per backend.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::connection::DbConnection;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Why the database could not be prepared for the server.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A migration failed (diesel's migration harness reports any error, boxed).
    #[error("{0}")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Applies every pending migration of the connection's backend.
pub fn migrate(conn: &mut DbConnection) -> Result<(), DbError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(DbError::Migration)?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(())
}
