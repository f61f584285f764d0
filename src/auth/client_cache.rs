//! Applications by `client_id` in memory, in the one way each backend allows
//! (`ClientCache`); `auth::client_auth` is the only reader.
//!
//! Client authentication is on every grant and every introspection, and on PostgreSQL
//! the application lookup is a round trip of its own. But a secret rotated by another
//! replica or by the CLI must stop working at once, so a cache with only a time limit
//! is wrong. On PostgreSQL (`ListeningCache`) a trigger notifies
//! `portcullis_applications` with the transaction id of every change (migration 3); a
//! thread of each server listens, empties the cache and acknowledges on
//! `portcullis_applications_ack`. The cache answers only while that thread is connected
//! and has completed a round trip in the last `FRESH` seconds. A change made through
//! `change_applications` (the CLI and the admin API) returns only once every server
//! listening on the database has acknowledged it, or `ACK_TIMEOUT` has passed: longer
//! than `FRESH` plus the ping interval, so a server whose listener stalled has stopped
//! answering from memory by then. Either way "at once" holds across replicas and
//! processes. SQLite has no way to hear another process's change, so there
//! `stamped_clients` keeps entries that only a write transaction can confirm.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::stamped_clients::StampedClients;
use crate::config::DatabaseUrl;
use crate::db::listen::{has_input, ListenError, Listener, Notification};
use crate::db::{DbConnection, Writer};
use crate::error::ApiError;
use crate::store::applications::Application;

const CHANNEL: &str = "portcullis_applications";
const ACK_CHANNEL: &str = "portcullis_applications_ack";
/// How listening connections show in `pg_stat_activity`, so writers can count them.
const CACHE_NAME: &str = "portcullis_client_cache";
/// Beyond this many applications the cache starts over, so unknown ids cannot grow it.
const MAX_ENTRIES: usize = 10_000;
/// A backstop should a notification ever be lost unnoticed (a half-open connection),
/// and the longest a server that never acknowledged a change can lag behind it.
const MAX_AGE: Duration = Duration::from_secs(60);
/// How long the listening thread waits before it pings the database (and checks
/// whether the server is gone).
const WAKE_INTERVAL: Duration = Duration::from_secs(1);
/// The cache answers only this long after the listener's last round trip began: a
/// change committed since then either arrived with a later round trip or was never
/// heard, and then the entries must not be trusted.
const FRESH: Duration = Duration::from_secs(3);
/// How long a change waits for servers to acknowledge it: beyond `FRESH` and the ping
/// interval, so a server that did not acknowledge has stopped answering from memory.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where applications are kept in memory: the strategy the backend allows.
pub(super) enum ClientCache {
    /// PostgreSQL: entries trusted while the listener hears every change.
    Listening(Arc<ListeningCache>),
    /// SQLite: entries that only admit, confirmed by the write that relies on them.
    Stamped(StampedClients),
}

impl ClientCache {
    /// A cache that listens for changes on PostgreSQL; stamped entries on SQLite.
    pub(super) fn start(url: &DatabaseUrl) -> Self {
        match url {
            DatabaseUrl::Postgres(url) => ClientCache::Listening(ListeningCache::start(url)),
            DatabaseUrl::Sqlite(_) => ClientCache::Stamped(StampedClients::default()),
        }
    }
}

#[derive(Default)]
pub(super) struct ListeningCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// A copy of the listener's socket, only while changes are certain to be heard.
    live: Option<OwnedFd>,
    /// When the listener's last successful round trip began.
    heard_from: Option<Instant>,
    /// Bumped by every invalidation: a lookup that started before one must not store
    /// the row it read.
    generation: u64,
    entries: HashMap<String, (Arc<Application>, Instant)>,
}

impl ListeningCache {
    fn start(url: &str) -> Arc<Self> {
        let cache = Arc::new(ListeningCache::default());
        // Connected before the server answers, so the cache serves from the first
        // request; a database that is not up yet is retried by the thread.
        let first = Listener::connect(url, CHANNEL, CACHE_NAME);
        if let Ok(listener) = &first {
            cache.set_live(listener.watch(), Instant::now());
        }
        let (url, weak) = (url.to_owned(), Arc::downgrade(&cache));
        std::thread::Builder::new()
            .name("client-cache".into())
            .spawn(move || listen(&url, first, &weak))
            .expect("spawning the client cache's listener");
        cache
    }

    /// The application named `client_id`, from memory when the cache is live.
    pub(super) fn find(
        &self,
        conn: &mut DbConnection,
        client_id: &str,
    ) -> diesel::QueryResult<Option<Arc<Application>>> {
        if let Some(app) = self.peek(client_id) {
            return Ok(Some(app));
        }
        let generation = {
            let inner = self.lock();
            inner.live.as_ref().map(|_| inner.generation)
        };
        let found = Application::find_by_client_id(conn, client_id)?.map(Arc::new);
        if let (Some(app), Some(generation)) = (&found, generation) {
            let mut inner = self.lock();
            if inner.live.is_some() && inner.generation == generation {
                if inner.entries.len() >= MAX_ENTRIES {
                    inner.entries.clear();
                }
                inner.entries.insert(client_id.to_owned(), (app.clone(), Instant::now()));
            }
        }
        Ok(found)
    }

    /// The application from memory alone, when the cache is live and holds it.
    pub(super) fn peek(&self, client_id: &str) -> Option<Arc<Application>> {
        let inner = self.lock();
        let socket = inner.live.as_ref()?;
        if inner.heard_from?.elapsed() >= FRESH {
            return None;
        }
        let (app, stored) = inner.entries.get(client_id)?;
        // Unread input on the listener's socket may be a change the listening thread
        // has not been scheduled to apply yet: then the database answers instead.
        (stored.elapsed() < MAX_AGE && !has_input(socket.as_fd())).then(|| app.clone())
    }

    /// Forgets every application; lookups under way do not store what they read.
    fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }

    /// A round trip that began at `at` completed, with every change it brought applied.
    fn heard(&self, at: Instant) {
        self.lock().heard_from = Some(at);
    }

    fn set_live(&self, live: Option<OwnedFd>, at: Instant) {
        let mut inner = self.lock();
        inner.live = live;
        inner.heard_from = Some(at);
        inner.generation += 1;
        inner.entries.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map holds no invariant a panicking holder could break.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Keeps a LISTEN connection until the cache is dropped; the cache is live exactly
/// while the connection is.
fn listen(url: &str, first: Result<Listener, ListenError>, cache: &Weak<ListeningCache>) {
    let mut retry = WAKE_INTERVAL;
    let mut reported = false;
    let mut attempt = Some(first);
    loop {
        match attempt.take().unwrap_or_else(|| Listener::connect(url, CHANNEL, CACHE_NAME)) {
            Ok(mut listener) => {
                retry = WAKE_INTERVAL;
                reported = false;
                let Some(live) = cache.upgrade() else { return };
                live.set_live(listener.watch(), Instant::now());
                drop(live);
                let lost = loop {
                    let heard = listener.wait(WAKE_INTERVAL);
                    // Quiet for a while: a ping shows the connection still works, and
                    // brings in any change it held back.
                    let began = Instant::now();
                    let heard = match heard {
                        Ok(changes) if changes.is_empty() => listener.ping(),
                        other => other,
                    };
                    let Some(live) = cache.upgrade() else { return };
                    // Either way a round trip began after `began`: the ping, or the
                    // acknowledgements `forget` sends and waits for.
                    match heard.and_then(|changes| forget(&live, &listener, &changes)) {
                        Ok(()) => live.heard(began),
                        Err(error) => {
                            live.set_live(None, began);
                            break error;
                        }
                    }
                };
                tracing::warn!(error = %lost, "client cache stopped listening for application changes");
            }
            Err(error) => {
                if !reported {
                    tracing::warn!(%error, "client cache cannot listen for application changes; looking applications up per request");
                    reported = true;
                }
            }
        }
        std::thread::sleep(retry);
        if cache.strong_count() == 0 {
            return;
        }
        retry = (retry * 2).min(Duration::from_secs(30));
    }
}

/// Empties the cache for `changes`, then tells the writers waiting in
/// `change_applications` that it is done.
fn forget(cache: &ListeningCache, listener: &Listener, changes: &[Notification]) -> Result<(), ListenError> {
    if changes.is_empty() {
        return Ok(());
    }
    cache.invalidate();
    changes.iter().try_for_each(|change| listener.notify(ACK_CHANNEL, &change.payload))
}

/// Runs `change`, a write to applications, in one transaction, and on PostgreSQL
/// returns only once every server caching applications on this database has
/// forgotten them (or `ACK_TIMEOUT` passed: such a server is stuck or gone, and has
/// stopped answering from memory, see `FRESH`). Also returns how many servers did not
/// acknowledge, for the operator to hear about.
pub fn change_applications<T>(
    url: &DatabaseUrl,
    conn: &mut Writer<'_>,
    change: impl FnOnce(&mut Writer<'_>) -> Result<T, ApiError>,
) -> Result<(T, usize), ApiError> {
    let DatabaseUrl::Postgres(url) = url else {
        return Ok((conn.transaction(change)?, 0));
    };
    // Listening before counting: an acknowledgement cannot arrive unheard.
    let acks = Listener::connect(url, ACK_CHANNEL, "portcullis_change");
    let servers: HashSet<i32> = match &acks {
        Ok(_) => Application::sessions_named(conn, CACHE_NAME)?.into_iter().collect(),
        Err(_) => HashSet::new(),
    };
    let (value, txid) = conn.transaction(|conn| {
        let value = change(conn)?;
        Ok::<_, ApiError>((value, Application::transaction_id(conn)?))
    })?;
    let unconfirmed = match acks {
        Ok(mut acks) => await_acknowledgements(&mut acks, servers, &txid.to_string()),
        Err(error) => {
            tracing::warn!(%error, "cannot wait for servers to forget a changed application");
            0
        }
    };
    Ok((value, unconfirmed))
}

/// Waits for `servers` to acknowledge `txid`; returns how many did not in time.
fn await_acknowledgements(acks: &mut Listener, mut servers: HashSet<i32>, txid: &str) -> usize {
    let deadline = Instant::now() + ACK_TIMEOUT;
    while !servers.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::warn!(servers = servers.len(), "servers did not confirm an application change in time");
            return servers.len();
        }
        match acks.wait(left) {
            Ok(heard) => {
                for ack in heard.iter().filter(|a| a.payload == txid) {
                    servers.remove(&ack.sender_pid);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "lost the connection waiting for servers to forget an application change");
                return servers.len();
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    fn application() -> Arc<Application> {
        Arc::new(Application {
            id: 1,
            client_id: "cached".into(),
            secret_hash: None,
            name: "Cached".into(),
            client_type: "public".into(),
            grant_types: "password".into(),
            redirect_uris: String::new(),
            skip_authorization: false,
            owner_id: None,
            created_at: 0,
            updated_at: 0,
            post_logout_redirect_uris: String::new(),
            id_token_signed_response_alg: "RS256".into(),
        })
    }

    #[test]
    fn answers_only_while_the_listener_was_heard_from_lately_and_its_socket_is_quiet() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let cache = ListeningCache::default();
        let long_ago = Instant::now().checked_sub(FRESH + Duration::from_secs(1)).unwrap();
        cache.set_live(Some(OwnedFd::from(ours)), long_ago);
        cache.lock().entries.insert("cached".into(), (application(), Instant::now()));
        assert!(
            cache.peek("cached").is_none(),
            "a listener silent for longer than FRESH may have missed a change"
        );

        cache.heard(Instant::now());
        assert!(cache.peek("cached").is_some());
        assert!(cache.peek("other").is_none());

        // Input the listener has not read yet may be a change.
        std::io::Write::write_all(&mut &theirs, b"x").unwrap();
        assert!(cache.peek("cached").is_none());
    }
}
