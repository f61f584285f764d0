//! The connection pool, and `run`, the one way request handlers reach it.

use std::time::Duration;

use diesel::r2d2;

use super::connection::{DbConnection, Manager};
use super::threads::DbThreads;
use crate::config::DatabaseUrl;
use crate::error::ApiError;

/// The connections, and the threads that use them (`threads`), which take work in
/// arrival order.
///
/// Why in arrival order: when every waiting request parked a thread on r2d2's condition
/// variable, whichever thread woke first took a returned connection, so some requests
/// waited many turns and the tail latency stood far above the median (figures in
/// bench/notes.md).
#[derive(Clone)]
pub struct DbPool {
    connections: r2d2::Pool<Manager>,
    threads: DbThreads,
}

impl DbPool {
    /// A connection now, for work already off the async executor.
    pub fn get(&self) -> Result<r2d2::PooledConnection<Manager>, r2d2::PoolError> {
        self.connections.get()
    }
}

/// Builds the pool without connecting, so a server can start before the database is
/// reachable and recover by itself when it comes back.
pub fn pool(url: &DatabaseUrl, size: u32) -> DbPool {
    let connections = r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .build_unchecked(Manager::new(url));
    let threads = DbThreads::start(&connections, size);
    DbPool { connections, threads }
}

/// Runs blocking database work on one of the pool's threads with a pooled connection.
pub async fn run<T, F>(pool: &DbPool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    pool.threads.run(work).await
}
