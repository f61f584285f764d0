//! Where write work runs. On PostgreSQL, on the pool like any other query. On SQLite, on
//! one writer thread that commits the jobs waiting at that moment in one transaction
//! (group commit).
//!
//! Why: SQLite has a single write lock. Pooled connections competing for it wait in
//! the busy handler's sleeps (which set the tail latency), and every commit appends
//! each page it touched to the WAL, so a token insert that touches the table and its
//! indexes writes several pages. One writer needs no lock waits, and a batch of inserts
//! writes the pages they share once (figures in bench/notes.md).
//!
//! A job sees the same semantics as on a pooled connection: statements outside an
//! explicit `conn.transaction` are kept even when the job then returns an error (the
//! refresh-reuse path relies on this to burn a family and answer `invalid_grant`),
//! and a nested `conn.transaction` becomes a savepoint that rolls back on its own.
//! A job's result is delivered only after the batch commits; if the commit fails,
//! every job of the batch answers 503 and none of its writes are kept.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2;
use diesel::Connection;
use tokio::sync::oneshot;

use super::connection::{self, DbConnection, Writer};
use super::pool::{self, DbPool};
use crate::config::DatabaseUrl;
use crate::error::ApiError;

/// More jobs than this wait for the next batch, so one commit stays short.
const MAX_BATCH: usize = 64;

/// How often the checkpointer copies the WAL back into the database file, when
/// something was committed since its last pass. Short on purpose: a checkpoint's
/// writes and fsyncs stall the writer's next commit, and many small stalls hurt the
/// tail less than a few long ones (the intervals tried are in bench/notes.md).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(4);

#[derive(Clone)]
pub enum Writes {
    Pool(DbPool),
    /// The queue, and a token whose last drop stops the checkpointer.
    Batched(mpsc::Sender<Box<dyn Job>>, Arc<()>),
}

impl Writes {
    /// The pool for PostgreSQL; a writer thread with its own connection for SQLite.
    pub fn start(url: &DatabaseUrl, pool: &DbPool) -> Self {
        match url {
            DatabaseUrl::Postgres(_) => Writes::Pool(pool.clone()),
            DatabaseUrl::Sqlite(_) => {
                let (sender, receiver) = mpsc::channel();
                let url = url.clone();
                let alive = Arc::new(());
                let (writer_url, weak) = (url.clone(), Arc::downgrade(&alive));
                let commits = Arc::new(AtomicU64::new(0));
                let committed = commits.clone();
                std::thread::Builder::new()
                    .name("sqlite-writer".into())
                    .spawn(move || writer_loop(&writer_url, &receiver, &committed))
                    .expect("spawning the SQLite writer thread");
                std::thread::Builder::new()
                    .name("sqlite-checkpoint".into())
                    .spawn(move || checkpoint_loop(&url, &weak, &commits))
                    .expect("spawning the SQLite checkpoint thread");
                Writes::Batched(sender, alive)
            }
        }
    }

    /// Runs work that writes; the answer comes once its changes are committed.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Writer<'_>) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        match self {
            Writes::Pool(db) => pool::run(db, move |conn| work(&mut Writer::new(conn))).await,
            Writes::Batched(sender, _) => {
                let (done, answer) = oneshot::channel();
                sender
                    .send(Box::new(Pending { work, done }))
                    .map_err(|_| ApiError::unavailable("The database writer has stopped."))?;
                answer.await.map_err(|_| ApiError::internal("a write job was abandoned"))?
            }
        }
    }
}

/// A job of any result type, boxed for the writer's queue.
pub trait Job: Send {
    /// Runs the work; the returned delivery is called with whether the batch committed.
    fn run(self: Box<Self>, conn: &mut DbConnection) -> Box<dyn FnOnce(bool) + Send>;
    /// Answers without running (no connection).
    fn fail(self: Box<Self>, error: ApiError);
}

struct Pending<T, F> {
    work: F,
    done: oneshot::Sender<Result<T, ApiError>>,
}

impl<T, F> Job for Pending<T, F>
where
    F: FnOnce(&mut Writer<'_>) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut DbConnection) -> Box<dyn FnOnce(bool) + Send> {
        let Pending { work, done } = *self;
        let result = work(&mut Writer::new(conn));
        Box::new(move |committed| {
            let answer = if committed { result } else { Err(not_committed()) };
            // The caller may have gone away (client disconnected); nothing to do then.
            let _ = done.send(answer);
        })
    }

    fn fail(self: Box<Self>, error: ApiError) {
        let _ = self.done.send(Err(error));
    }
}

fn not_committed() -> ApiError {
    ApiError::unavailable("The database did not accept the change; try again.")
}

fn writer_loop(url: &DatabaseUrl, jobs: &mpsc::Receiver<Box<dyn Job>>, commits: &AtomicU64) {
    let mut conn: Option<DbConnection> = None;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match connection::connect(url).and_then(|mut c| {
                // The checkpointer thread copies the WAL back; checkpointing on this
                // thread at every 1000 pages stalled every queued request behind an
                // fsync. The high limit is only a backstop should that thread die.
                c.batch_execute("PRAGMA wal_autocheckpoint = 4000").map_err(r2d2::Error::QueryError)?;
                Ok(c)
            }) {
                Ok(c) => conn = Some(c),
                Err(error) => {
                    tracing::error!(%error, "SQLite writer cannot open the database");
                    for job in batch {
                        job.fail(ApiError::unavailable("The database is unavailable."));
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        if commit_batch(c, batch) {
            commits.fetch_add(1, Ordering::Relaxed);
        } else {
            // Whatever state the connection is in, a fresh one is certain.
            conn = None;
        }
    }
}

/// Runs the batch in one transaction; false when the connection should be replaced.
fn commit_batch(conn: &mut DbConnection, batch: Vec<Box<dyn Job>>) -> bool {
    type Manager = <DbConnection as Connection>::TransactionManager;
    // Take the write lock now, for the reason `take_write_lock` gives.
    let begun = Manager::begin_transaction(conn).and_then(|()| connection::take_write_lock(conn));
    if let Err(error) = begun {
        tracing::error!(%error, "SQLite writer cannot begin a transaction");
        let _ = Manager::rollback_transaction(conn);
        for job in batch {
            job.fail(ApiError::unavailable("The database is busy; try again."));
        }
        return false;
    }
    let mut deliveries = Vec::with_capacity(batch.len());
    let mut panicked = false;
    let mut jobs = batch.into_iter();
    for job in jobs.by_ref() {
        match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
            Ok(delivery) => deliveries.push(delivery),
            Err(_) => {
                // A panic may have left a savepoint open: keep nothing of this batch.
                panicked = true;
                break;
            }
        }
    }
    let committed = !panicked && Manager::commit_transaction(conn).is_ok();
    if !committed {
        let _ = Manager::rollback_transaction(conn);
        tracing::error!(panicked, "SQLite writer rolled back a batch");
    }
    for delivery in deliveries {
        delivery(committed);
    }
    for job in jobs {
        job.fail(not_committed());
    }
    committed
}

/// Copies the WAL back into the database beside the writer (PASSIVE: it never blocks
/// the writer or readers, and takes what it can), until the server's state is dropped.
fn checkpoint_loop(url: &DatabaseUrl, alive: &Weak<()>, commits: &AtomicU64) {
    let mut conn: Option<DbConnection> = None;
    let mut seen = 0;
    while alive.strong_count() > 0 {
        std::thread::park_timeout(CHECKPOINT_INTERVAL);
        // An idle server does not touch the database.
        let now = commits.load(Ordering::Relaxed);
        if now == seen {
            continue;
        }
        seen = now;
        if conn.is_none() {
            conn = connection::connect(url).ok();
        }
        if let Some(c) = conn.as_mut() {
            if let Err(error) = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                tracing::warn!(%error, "WAL checkpoint failed");
                conn = None;
            }
        }
    }
}
