//! SQLite: applications kept in memory, each with the `application_changes` stamp it
//! was read at (migration 5: triggers replace that stamp with a random value on every
//! change to `applications`, whichever process makes it).
//!
//! SQLite cannot tell a server that the CLI rotated a secret, so an entry is never the
//! last word: it may admit a client ahead of a write job (saving a trip to the blocking
//! pool), and the job then checks in its own write transaction that the stamp is still
//! the one the application was read at, authenticating again from the table if not. A
//! grant is therefore never issued on a stale entry, and a refusal always comes from
//! the table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use diesel::QueryResult;

use crate::db::DbConnection;
use crate::store::applications::Application;

/// Beyond this many applications the map starts over, so unknown ids cannot grow it.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone)]
pub(super) struct Stamped {
    pub app: Arc<Application>,
    pub stamp: i64,
}

/// What `load` read: the application, if any, and the stamp to confirm it against.
pub(super) struct Loaded {
    pub app: Option<Arc<Application>>,
    pub stamp: Option<i64>,
}

#[derive(Default)]
pub(super) struct StampedClients {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The stamp read last; only entries read at it are handed out.
    current: Option<i64>,
    entries: HashMap<String, Stamped>,
}

impl StampedClients {
    /// The entry for `client_id`, if it was read at the stamp read last.
    pub(super) fn get(&self, client_id: &str) -> Option<Stamped> {
        let inner = self.lock();
        let entry = inner.entries.get(client_id)?;
        (Some(entry.stamp) == inner.current).then(|| entry.clone())
    }

    /// Reads the application and keeps it. The stamp is read first: whatever change
    /// lands between the two reads, the row is at least as new as its stamp, and a
    /// stamp that changed fails its confirmation.
    pub(super) fn load(&self, conn: &mut DbConnection, client_id: &str) -> QueryResult<Loaded> {
        let stamp = Application::changes_stamp(conn)?;
        let app = Application::find_by_client_id(conn, client_id)?.map(Arc::new);
        if let (Some(app), Some(stamp)) = (&app, stamp) {
            let mut inner = self.lock();
            observe(&mut inner, stamp);
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
            inner.entries.insert(client_id.to_owned(), Stamped { app: app.clone(), stamp });
        }
        Ok(Loaded { app, stamp })
    }

    /// Whether `applications` is unchanged since `stamp`. Read in the caller's write
    /// transaction, no change can land between this answer and the caller's write.
    pub(super) fn unchanged_since(&self, conn: &mut DbConnection, stamp: Option<i64>) -> QueryResult<bool> {
        let now = Application::changes_stamp(conn)?;
        if let Some(now) = now {
            observe(&mut self.lock(), now);
        }
        Ok(now.is_some() && now == stamp)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map holds no invariant a panicking holder could break.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A stamp other than the last one read means a change (or a read racing one): the
/// entries read at other stamps are dropped. Should a late reader bring back an older
/// stamp, its entries are handed out again, and their confirmation sends the job to the table.
fn observe(inner: &mut Inner, stamp: i64) {
    if inner.current != Some(stamp) {
        inner.current = Some(stamp);
        inner.entries.retain(|_, entry| entry.stamp == stamp);
    }
}
