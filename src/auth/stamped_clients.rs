//! SQLite: applications kept in memory, each stamped with the `application_changes`
//! version it was read at (migration 5: triggers move that counter with every change to
//! `applications`, whichever process makes it).
//!
//! SQLite cannot tell a server that the CLI rotated a secret, so an entry is never the
//! last word: it may admit a client before a write job (saving a trip to the blocking
//! pool), and the job then checks in its own write transaction that the counter has not
//! moved since the stamp, authenticating again from the table if it has. A grant is
//! therefore never issued on a stale entry, and a refusal always comes from the table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use diesel::QueryResult;

use crate::db::DbConnection;
use crate::store::applications::Application;

/// Beyond this many applications the map starts over, so unknown ids cannot grow it.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone)]
pub struct Stamped {
    pub app: Arc<Application>,
    pub version: i64,
}

#[derive(Default)]
pub struct StampedClients {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The newest version this server has read; entries stamped before it are dropped.
    newest: i64,
    entries: HashMap<String, Stamped>,
}

impl StampedClients {
    /// The entry for `client_id`, if it was read at the newest version seen.
    pub fn get(&self, client_id: &str) -> Option<Stamped> {
        let inner = self.lock();
        inner.entries.get(client_id).filter(|entry| entry.version == inner.newest).cloned()
    }

    /// Reads the application and keeps it. The version is read first: whatever change
    /// lands between the two reads, the row is at least as new as its stamp.
    pub fn load(&self, conn: &mut DbConnection, client_id: &str) -> QueryResult<Option<Stamped>> {
        let version = Application::changes_version(conn)?;
        let Some(app) = Application::find_by_client_id(conn, client_id)? else {
            return Ok(None);
        };
        let entry = Stamped { app: Arc::new(app), version };
        let mut inner = self.lock();
        observe(&mut inner, version);
        if version == inner.newest {
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
            inner.entries.insert(client_id.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// Whether `applications` is unchanged since `version`. Read in the caller's write
    /// transaction, no change can land between this answer and the caller's write.
    pub fn unchanged_since(&self, conn: &mut DbConnection, version: i64) -> QueryResult<bool> {
        let now = Application::changes_version(conn)?;
        observe(&mut self.lock(), now);
        Ok(now == version)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map holds no invariant a panicking holder could break.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn observe(inner: &mut Inner, version: i64) {
    if version > inner.newest {
        inner.newest = version;
        inner.entries.clear();
    }
}
