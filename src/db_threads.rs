//! The threads that run `db::run`'s work: as many as the pool has connections, taking
//! jobs from one queue in arrival order.
//!
//! Why not actix's blocking pool (as before, behind a first-come-first-served gate):
//! each job woke a blocking thread, which then often waited inside r2d2 for a
//! connection that another thread handed back, before the answer woke the request's
//! worker; serving PostgreSQL userinfo, 34-40% of the server's samples were thread
//! switches. A thread per connection that finds its next job already queued switches
//! only to wait for the database and to wake the worker.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

use diesel::r2d2::Pool;
use tokio::sync::oneshot;

use crate::db::{DbConnection, Manager};
use crate::error::ApiError;

type Job = Box<dyn FnOnce(&Pool<Manager>) + Send>;

/// The queue's sending end; the threads end when every clone of it is dropped.
#[derive(Clone)]
pub struct DbThreads {
    queue: mpsc::Sender<Job>,
}

impl DbThreads {
    pub fn start(connections: &Pool<Manager>, count: u32) -> Self {
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
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |connections| {
            let result = match connections.get() {
                Ok(mut conn) => work(&mut conn),
                Err(error) => Err(error.into()),
            };
            // The request may have gone away (client disconnected); nothing to do then.
            let _ = answer.send(result);
        });
        self.queue
            .send(job)
            .map_err(|_| ApiError::Unavailable("The database threads have stopped.".into()))?;
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
    use diesel::connection::SimpleConnection;

    use crate::config::DatabaseUrl;
    use crate::db;

    #[tokio::test]
    async fn a_panicking_job_loses_its_answer_but_not_its_thread() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("threads.db").display().to_string());
        let pool = db::pool(&url, 1);
        let panicked = db::run(&pool, |_| -> Result<(), _> { panic!("a bug in a job") }).await;
        assert!(panicked.is_err());
        // The one thread is still there to take the next job.
        let answer = db::run(&pool, |conn| Ok(conn.batch_execute("SELECT 1").is_ok())).await;
        assert!(answer.unwrap());
    }
}
