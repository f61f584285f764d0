//! The threads that run `db::run`'s work: as many as the pool has connections, taking
//! jobs from one queue in arrival order.
//!
//! Why not actix's blocking pool (as before, behind a first-come-first-served gate):
//! each job woke a blocking thread, which then often waited inside r2d2 for a
//! connection that another thread handed back, before the answer woke the request's
//! worker, so a large share of the server's time went to thread switches (figures in
//! bench/notes.md). A thread per connection that finds its next job already queued
//! switches only to wait for the database and to wake the worker.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

use diesel::r2d2::Pool;
use tokio::sync::oneshot;

use super::connection::{DbConnection, Manager};
use crate::error::ApiError;

type Job = Box<dyn FnOnce(&Pool<Manager>) + Send>;

/// The queue's sending end; the threads end when every clone of it is dropped.
#[derive(Clone)]
pub(super) struct DbThreads {
    queue: mpsc::Sender<Job>,
}

impl DbThreads {
    pub(super) fn start(connections: &Pool<Manager>, count: u32) -> Self {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..count.max(1) {
            let (jobs, connections) = (jobs.clone(), connections.clone());
            std::thread::Builder::new()
                .name("db".into())
                .spawn(move || serve(&jobs, &connections))
                .expect("spawning a database thread");
        }
        Self { queue }
    }

    /// Runs `work` on one of the threads with a pooled connection.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |connections| {
            // The request went away while this waited its turn (its client gave up):
            // neither its reads nor its writes are wanted any more.
            if answer.is_closed() {
                return;
            }
            let result = match connections.get() {
                Ok(mut conn) => work(&mut conn),
                Err(error) => Err(error.into()),
            };
            // The request may have gone away (client disconnected); nothing to do then.
            let _ = answer.send(result);
        });
        self.queue.send(job).map_err(|_| ApiError::unavailable("The database threads have stopped."))?;
        // No answer means the work panicked (the thread lives on) before sending one.
        answered.await.map_err(|_| ApiError::internal("a database job panicked"))?
    }
}

fn serve(jobs: &Mutex<mpsc::Receiver<Job>>, connections: &Pool<Manager>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
        let Ok(job) = next else { return };
        // A panicking job loses its answer, not the thread.
        let _ = catch_unwind(AssertUnwindSafe(|| job(connections)));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};

    use diesel::connection::SimpleConnection;

    use crate::config::DatabaseUrl;
    use crate::db::{self, DbPool};

    fn one_thread_pool(dir: &tempfile::TempDir) -> DbPool {
        db::pool(&DatabaseUrl::Sqlite(dir.path().join("threads.db").display().to_string()), 1)
    }

    #[tokio::test]
    async fn a_panicking_job_loses_its_answer_but_not_its_thread() {
        let dir = tempfile::tempdir().unwrap();
        let pool = one_thread_pool(&dir);
        let panicked = db::run(&pool, |_| -> Result<(), _> { panic!("a bug in a job") }).await;
        assert!(panicked.is_err());
        // The one thread is still there to take the next job.
        let answer = db::run(&pool, |conn| Ok(conn.batch_execute("SELECT 1").is_ok())).await;
        assert!(answer.unwrap());
    }

    #[tokio::test]
    async fn a_job_whose_request_went_away_while_queued_does_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let pool = one_thread_pool(&dir);
        // Keep the one thread busy until released.
        let (started, has_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let mut busy = Box::pin(db::run(&pool, move |_| {
            started.send(()).unwrap();
            released.recv().unwrap();
            Ok(())
        }));
        assert!(futures::poll!(busy.as_mut()).is_pending());
        has_started.recv().unwrap();

        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let mut abandoned = Box::pin(db::run(&pool, move |_| {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        }));
        assert!(futures::poll!(abandoned.as_mut()).is_pending());
        drop(abandoned);

        release.send(()).unwrap();
        busy.await.unwrap();
        // Jobs run in arrival order: once this one has run, the abandoned one had its turn.
        db::run(&pool, |_| Ok(())).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
    }
}
