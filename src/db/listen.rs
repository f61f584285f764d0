//! A PostgreSQL connection that LISTENs on one channel and can wait for notifications.
//!
//! Why libpq directly: diesel's `PgConnection` drains notifications that already
//! arrived but cannot wait for one (it does not expose the socket), and polling it
//! would leave a window in which another process's change goes unseen. libpq is
//! already linked for diesel and honours the same `DATABASE_URL` (TLS settings
//! included), so waiting on its socket needs no second driver.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use pq_sys as pq;

/// Why a listener could not connect, send or wait. libpq explains its own failures only
/// in words (`PQerrorMessage`), so those stay a message.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("unsupported channel {channel:?} or name {application_name:?}")]
    UnsupportedName { channel: String, application_name: String },
    #[error("the database URL contains a NUL character")]
    NulInUrl(#[source] std::ffi::NulError),
    #[error("a statement or parameter contains a NUL character")]
    NulInStatement(#[source] std::ffi::NulError),
    #[error("too many parameters")]
    TooManyParameters,
    #[error("libpq could not allocate a connection")]
    OutOfMemory,
    #[error("the connection has no socket")]
    NoSocket,
    /// What libpq said went wrong (connection refused or lost, a failed statement).
    #[error("{0}")]
    Libpq(String),
    #[error("{0}")]
    Poll(#[source] std::io::Error),
}

/// One notification: the PostgreSQL backend that sent it, and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub sender_pid: i32,
    pub payload: String,
}

/// Connection settings unless the URL gives its own (seconds; `tcp_user_timeout` in
/// milliseconds). Keepalives end a connection that went quiet; `tcp_user_timeout` ends
/// one whose sent data (a ping) goes unacknowledged, which keepalives do not cover.
const DEFAULTS: [(&CStr, &CStr); 6] = [
    (c"connect_timeout", c"10"),
    (c"keepalives", c"1"),
    (c"keepalives_idle", c"10"),
    (c"keepalives_interval", c"5"),
    (c"keepalives_count", c"3"),
    (c"tcp_user_timeout", c"10000"),
];

pub struct Listener {
    conn: *mut pq::PGconn,
}

// The connection is owned by one `Listener` and used from one thread at a time.
unsafe impl Send for Listener {}

impl Listener {
    /// Connects as `application_name` (so others can find it in `pg_stat_activity`)
    /// and subscribes to `channel`. Both are plain identifiers of ours.
    pub fn connect(url: &str, channel: &str, application_name: &str) -> Result<Self, ListenError> {
        let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if !plain(channel) || !plain(application_name) {
            return Err(ListenError::UnsupportedName {
                channel: channel.to_owned(),
                application_name: application_name.to_owned(),
            });
        }
        let url = CString::new(url).map_err(ListenError::NulInUrl)?;
        // A black-holed database must not hang startup or a change for minutes, and a
        // half-open connection must end: our defaults come before `dbname`, which libpq
        // expands from the URL, so whatever the URL says itself wins.
        let mut keywords = Vec::new();
        let mut values = Vec::new();
        for (keyword, value) in DEFAULTS {
            keywords.push(keyword.as_ptr());
            values.push(value.as_ptr());
        }
        keywords.extend([c"dbname".as_ptr(), std::ptr::null()]);
        values.extend([url.as_ptr(), std::ptr::null()]);
        // SAFETY: both arrays are NULL-terminated and point at C strings that outlive
        // the call; the returned pointer is owned by the `Listener` (even on failure,
        // so that `Drop` frees it; PQfinish takes NULL).
        let listener =
            Listener { conn: unsafe { pq::PQconnectdbParams(keywords.as_ptr(), values.as_ptr(), 1) } };
        if listener.conn.is_null() {
            return Err(ListenError::OutOfMemory);
        }
        // SAFETY: `conn` is a live connection object.
        if unsafe { pq::PQstatus(listener.conn) } != pq::ConnStatusType::CONNECTION_OK {
            return Err(listener.libpq_error());
        }
        // libpq prints server notices to standard error by default; `wait` reports
        // what matters (a lost connection) through the caller's log instead.
        // SAFETY: the processor ignores its arguments and outlives the connection.
        unsafe { pq::PQsetNoticeProcessor(listener.conn, Some(ignore_notice), std::ptr::null_mut()) };
        listener.execute(&format!("SET application_name = '{application_name}'"), &[])?;
        listener.execute(&format!("LISTEN {channel}"), &[])?;
        Ok(listener)
    }

    /// Sends `payload` on `channel` (delivered to listeners at once: no transaction).
    pub fn notify(&self, channel: &str, payload: &str) -> Result<(), ListenError> {
        self.execute("SELECT pg_notify($1, $2)", &[channel, payload])
    }

    /// A round trip: proof the connection works. Returns the notifications that came in
    /// with it, which the next `wait` would otherwise return.
    pub fn ping(&mut self) -> Result<Vec<Notification>, ListenError> {
        self.execute("SELECT 1", &[])?;
        self.drain()
    }

    /// Runs a statement with text parameters and discards its rows.
    fn execute(&self, sql: &str, params: &[&str]) -> Result<(), ListenError> {
        let sql = CString::new(sql).map_err(ListenError::NulInStatement)?;
        let params: Vec<CString> = params
            .iter()
            .map(|p| CString::new(*p))
            .collect::<Result<_, _>>()
            .map_err(ListenError::NulInStatement)?;
        let pointers: Vec<*const std::ffi::c_char> = params.iter().map(|p| p.as_ptr()).collect();
        let count = i32::try_from(pointers.len()).map_err(|_| ListenError::TooManyParameters)?;
        // SAFETY: `conn` is live; `sql` and every parameter are valid C strings that
        // outlive the call (text format, so no lengths are needed); the result is
        // cleared exactly once.
        unsafe {
            let result = pq::PQexecParams(
                self.conn,
                sql.as_ptr(),
                count,
                std::ptr::null(),
                pointers.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                0,
            );
            let ok = !result.is_null()
                && matches!(
                    pq::PQresultStatus(result),
                    pq::ExecStatusType::PGRES_COMMAND_OK | pq::ExecStatusType::PGRES_TUPLES_OK
                );
            pq::PQclear(result);
            if ok {
                Ok(())
            } else {
                Err(self.libpq_error())
            }
        }
    }

    fn socket(&self) -> Option<RawFd> {
        // SAFETY: `conn` is live.
        let fd = unsafe { pq::PQsocket(self.conn) };
        (fd >= 0).then_some(fd)
    }

    /// A duplicate of the socket, for `has_input` from other threads. libpq closes its
    /// own descriptor when the connection fails, and the number may then be reused by
    /// anything; the duplicate keeps pointing at this connection's socket.
    pub fn watch(&self) -> Option<OwnedFd> {
        let fd = self.socket()?;
        // SAFETY: `fd` is libpq's open socket; the duplicate is owned by the caller.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        // SAFETY: a fresh descriptor nobody else owns.
        (copy >= 0).then(|| unsafe { OwnedFd::from_raw_fd(copy) })
    }

    /// Waits up to `timeout` and returns what arrived (nothing on a timeout); an error
    /// means the connection is gone and notifications may have been lost.
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<Notification>, ListenError> {
        let waiting = self.drain()?;
        if !waiting.is_empty() {
            return Ok(waiting);
        }
        let fd = self.socket().ok_or(ListenError::NoSocket)?;
        let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            return if error.kind() == std::io::ErrorKind::Interrupted {
                Ok(Vec::new())
            } else {
                Err(ListenError::Poll(error))
            };
        }
        if ready == 0 {
            return Ok(Vec::new());
        }
        self.drain()
    }

    /// Reads what the socket holds and takes every notification received.
    fn drain(&mut self) -> Result<Vec<Notification>, ListenError> {
        let mut received = Vec::new();
        // SAFETY: `conn` is live; each notification is read, then freed once with
        // PQfreemem (which also frees the strings it points to).
        unsafe {
            if pq::PQconsumeInput(self.conn) == 0 {
                return Err(self.libpq_error());
            }
            loop {
                let notification = pq::PQnotifies(self.conn);
                if notification.is_null() {
                    break;
                }
                let payload = (*notification).extra;
                received.push(Notification {
                    sender_pid: (*notification).be_pid,
                    payload: if payload.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(payload).to_string_lossy().into_owned()
                    },
                });
                pq::PQfreemem(notification.cast());
            }
        }
        Ok(received)
    }

    fn libpq_error(&self) -> ListenError {
        // SAFETY: libpq returns a NUL-terminated string owned by the connection.
        let message = unsafe { CStr::from_ptr(pq::PQerrorMessage(self.conn)) };
        ListenError::Libpq(message.to_string_lossy().trim().to_owned())
    }
}

/// True when `fd` has unread data: a notification may be on its way to the listener.
/// A readiness check only, so it is safe beside the thread that owns the connection.
pub fn has_input(fd: BorrowedFd<'_>) -> bool {
    let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    unsafe { libc::poll(&mut poll, 1, 0) != 0 }
}

unsafe extern "C" fn ignore_notice(_: *mut std::ffi::c_void, _: *const std::ffi::c_char) {}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: `conn` came from PQconnectdb and is finished exactly once.
        unsafe { pq::PQfinish(self.conn) }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn url() -> String {
        std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    #[test]
    fn hears_a_notification_with_its_payload_and_sender() {
        let mut listener =
            Listener::connect(&url(), "portcullis_listen_test", "portcullis_test").expect("listens");
        let sender =
            Listener::connect(&url(), "portcullis_listen_unused", "portcullis_test").expect("connects");
        assert!(listener.wait(Duration::from_millis(1)).expect("alive").is_empty());
        sender.notify("portcullis_listen_test", "42").expect("notifies");
        let heard = listener.wait(Duration::from_secs(10)).expect("alive");
        assert_eq!(heard.len(), 1, "{heard:?}");
        assert_eq!(heard[0].payload, "42");
        assert!(heard[0].sender_pid > 0);
        let watched = listener.watch().expect("a socket");
        assert!(!has_input(watched.as_fd()), "the notification was consumed");
        sender.notify("portcullis_listen_test", "43").expect("notifies");
        assert_eq!(
            listener.ping().expect("alive"),
            [Notification { payload: "43".into(), ..heard[0].clone() }]
        );
    }

    #[test]
    fn takes_only_plain_names() {
        for (channel, name) in [("a; DROP TABLE x", "ok"), ("ok", "x'y"), ("", "ok")] {
            assert!(Listener::connect(&url(), channel, name).is_err(), "{channel:?} {name:?}");
        }
    }
}
