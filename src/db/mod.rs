//! The database: SQLite or PostgreSQL, chosen at run time from `DATABASE_URL`.
//!
//! - `connection`: the connection type both backends share (`DbConnection`, and the
//!   `on_backend!` macro for the hot queries), how one is opened, and write transactions.
//! - `pool`: the pool, and `run`, which runs work on one of its threads (`threads`).
//! - `writer`: where write work runs (`Writes`): the pool on PostgreSQL, one batching
//!   writer thread on SQLite.
//! - `migrations`: the embedded schema migrations.
//! - `listen`: a libpq connection that waits for PostgreSQL notifications.
//!
//! This file only declares and re-exports; the files share nothing through it.

mod connection;
pub mod listen;
mod migrations;
mod pool;
mod threads;
mod writer;

pub use connection::{connect, is_unique_violation, write_transaction, DbConnection, Manager, Writer};
pub use migrations::{migrate, DbError};
pub use pool::{pool, run, DbPool};
pub use writer::Writes;
