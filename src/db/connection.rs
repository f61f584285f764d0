//! One connection type for SQLite and PostgreSQL, chosen at run time from `DATABASE_URL`,
//! and how a connection is opened and used for a write.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::PgConnection;

use crate::config::DatabaseUrl;

/// One connection type for both backends, so every query is written once.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection, for the queries every
/// request makes. Why: through the `MultiConnection` wrapper diesel renders a
/// statement's whole SQL text on each call, even one it has prepared before (to ask
/// whether it may be cached); a backend's own connection finds it by the query's type.
/// That rendering was a visible share of SQLite's writer thread under load (figures in
/// bench/notes.md).
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Pg($c) => $body,
        }
    };
}

/// Opens connections for the backend the URL names. Written by hand rather than using
/// `ConnectionManager<DbConnection>`, whose `establish` tries each backend in turn and
/// would happily treat a PostgreSQL URL as an SQLite file name.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    pub(super) fn new(url: &DatabaseUrl) -> Self {
        Self { url: url.clone() }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the single writer; the busy timeout makes
                // writers queue instead of failing; NORMAL is durable across process
                // crashes in WAL mode, which is what a token server needs. Savepoints
                // journal pages to a temporary file unless temp_store is memory.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA temp_store = MEMORY;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                // Rotation and revocation are written for READ COMMITTED (a statement that
                // waited for a row sees its new version; see `store::tokens::revoke`); a
                // database whose default is stricter would answer their races with
                // serialization failures instead.
                conn.batch_execute(
                    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Pg(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.is_broken()
    }
}

/// One connection outside any pool (for the command line and tests).
pub fn connect(url: &DatabaseUrl) -> Result<DbConnection, r2d2::Error> {
    Manager::new(url).connect()
}

/// A connection that may write. Only the write path hands one out (`Writes::run`), and
/// commands that run beside no server (`Writer::offline`); store functions that write
/// take one. So work sent down the read path (`db::run`, a plain `DbConnection`) cannot
/// write: the compiler refuses it. It reads like any connection (`Deref`).
pub struct Writer<'c>(&'c mut DbConnection);

impl<'c> Writer<'c> {
    pub(super) fn new(conn: &'c mut DbConnection) -> Self {
        Self(conn)
    }

    /// A connection of the command line's (or a test's, or startup's, before the server
    /// answers): nothing else writes through it.
    pub fn offline(conn: &'c mut DbConnection) -> Self {
        Self(conn)
    }

    /// A transaction (a savepoint when nested) whose work may write.
    pub fn transaction<T, E, F>(&mut self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut Writer<'_>) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.0.transaction(|conn| work(&mut Writer(conn)))
    }
}

impl std::ops::Deref for Writer<'_> {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        self.0
    }
}

impl std::ops::DerefMut for Writer<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        self.0
    }
}

/// A transaction whose first statement takes SQLite's write lock (see `take_write_lock`),
/// so that SQLite's "database is locked" for a read-then-write transaction becomes a wait
/// on the busy timeout. A plain transaction on PostgreSQL.
pub fn write_transaction<T, E, F>(conn: &mut Writer<'_>, work: F) -> Result<T, E>
where
    F: FnOnce(&mut Writer<'_>) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        if matches!(**conn, DbConnection::Sqlite(_)) {
            take_write_lock(conn)?;
        }
        work(conn)
    })
}

/// Takes SQLite's write lock inside an open transaction: a statement that writes
/// nothing but is a write. Why: a deferred transaction that reads first fails at its
/// first write (without waiting) if another connection committed in between; holding
/// the lock from the start makes it wait on the busy timeout instead.
pub(super) fn take_write_lock(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    conn.batch_execute("UPDATE server_secrets SET name = name WHERE 0")
}

/// True when the error is a unique-constraint violation (a lost race on insert).
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
