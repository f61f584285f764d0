//! The OAuth error type every handler returns, and its one mapping to HTTP.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

/// Field name -> messages, for registration and other form validation.
pub type FieldErrors = BTreeMap<&'static str, Vec<String>>;

/// What lies under an `Unavailable` or `Internal` answer: any error (its own sources
/// kept) or a plain message. Logged with its chain, never sent to the client.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_request: validation failed")]
    Validation(FieldErrors),
    #[error("invalid_client: {description}")]
    InvalidClient { description: String, basic: bool },
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// A resource endpoint got no usable Bearer token.
    #[error("invalid_token: {0}")]
    InvalidToken(String),
    #[error("insufficient rights: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    /// The path exists, for the methods `allow` lists (the `Allow` header).
    MethodNotAllowed { allow: &'static str },
    #[error("too many attempts")]
    RateLimited { retry_after: i64 },
    #[error("request body too large")]
    PayloadTooLarge,
    /// The database or an identity provider did not answer.
    #[error("temporarily unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A bug or an unexpected failure; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a FieldErrors>,
}

impl ApiError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::InvalidRequest(description.into())
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::InvalidGrant(description.into())
    }

    /// A bug or an unexpected failure: an error, or a message saying what went wrong.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }

    /// A dependency (the database, an identity provider) did not answer: an error, or a
    /// message saying which.
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }

    fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::Validation(_) | Self::PayloadTooLarge => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidToken(_) => "invalid_token",
            Self::Forbidden(_) => "insufficient_scope",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "invalid_request",
            Self::RateLimited { .. } => "slow_down",
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::Internal(_) => "server_error",
        }
    }

    fn description(&self) -> String {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::InvalidToken(d)
            | Self::Forbidden(d) => d.clone(),
            Self::InvalidClient { description, .. } => description.clone(),
            Self::Validation(_) => "Some fields are invalid.".into(),
            Self::NotFound => "No such resource.".into(),
            Self::MethodNotAllowed { allow } => format!("This method is not allowed here; use {allow}."),
            Self::RateLimited { retry_after } => {
                format!("Too many attempts; retry in {retry_after} seconds.")
            }
            Self::PayloadTooLarge => "Request body is larger than 64 KiB.".into(),
            Self::Unavailable(_) => "The service is temporarily unavailable; retry shortly.".into(),
            Self::Internal(_) => "The server failed to handle this request.".into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidClient { .. } | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(cause = %Chain(cause.as_ref()), "request failed"),
            Self::Unavailable(cause) => {
                tracing::warn!(cause = %Chain(cause.as_ref()), "dependency unavailable")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            Self::InvalidClient { basic: true, .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"portcullis\""));
            }
            Self::InvalidToken(description) => {
                let challenge = format!(
                    "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"{}\"",
                    description.replace('"', "'")
                );
                response.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            Self::Forbidden(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"insufficient_scope\""));
            }
            Self::RateLimited { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.max(&1).to_string()));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            _ => {}
        }
        let fields = match self {
            Self::Validation(fields) => Some(fields),
            _ => None,
        };
        let description = self.description();
        response.json(Body { error: self.code(), error_description: &description, fields })
    }
}

/// An error followed by its sources, `: `-separated, for the log. A source whose text
/// its error already printed (an error that shows its cause) is not repeated.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            let text = error.to_string();
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            source = error.source();
        }
        Ok(())
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        if is_database_unreachable(&error) {
            Self::Unavailable(Box::new(error))
        } else {
            Self::Internal(Box::new(error))
        }
    }
}

/// True when the database could not take the statement at all (it is gone, or SQLite's
/// write lock stayed taken past the busy timeout), as opposed to refusing it.
///
/// PostgreSQL: diesel reports a connection whose server went away (terminated backend,
/// restart, network loss) as `ClosedConnection`, from libpq's connection status or a
/// connection-exception SQLSTATE, and a statement it could not send as
/// `UnableToSendCommand`. A pool that cannot open a connection is an `r2d2::PoolError`
/// (below).
fn is_database_unreachable(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => is_sqlite_busy(info.message()),
        _ => false,
    }
}

/// SQLite's SQLITE_BUSY ("database is locked"): another connection held the write lock
/// past the busy timeout.
///
/// Why by its text: diesel keeps only `sqlite3_errmsg` for SQLite errors other than
/// constraint violations (`DatabaseErrorKind::Unknown`, the extended result code
/// dropped), so the message is the only trace of the code left. It is SQLite's fixed
/// text for that code (`sqlite3_errstr(SQLITE_BUSY)`), not a server's prose.
fn is_sqlite_busy(message: &str) -> bool {
    message == "database is locked"
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(Box::new(error))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Unavailable(Box::new(error))
    }
}

impl From<crate::domain::scope::UnknownScope> for ApiError {
    fn from(unknown: crate::domain::scope::UnknownScope) -> Self {
        Self::InvalidScope(unknown.to_string())
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};

    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> ApiError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned())).into()
    }

    #[test]
    fn an_unreachable_database_is_told_by_the_kind_of_error_not_its_wording() {
        for kind in [DatabaseErrorKind::ClosedConnection, DatabaseErrorKind::UnableToSendCommand] {
            assert_eq!(database_error(kind, "anything").status_code(), StatusCode::SERVICE_UNAVAILABLE);
        }
        let busy = database_error(DatabaseErrorKind::Unknown, "database is locked");
        assert_eq!(busy.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        for (kind, message) in [
            (DatabaseErrorKind::Unknown, "relation \"connection_log\" does not exist"),
            (DatabaseErrorKind::UniqueViolation, "database is locked"),
        ] {
            assert_eq!(database_error(kind, message).status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        }
        assert_eq!(ApiError::from(DieselError::NotFound).status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[actix_web::test]
    async fn the_cause_is_kept_as_the_source_and_never_sent() {
        let cause = std::io::Error::other("disk on fire");
        let error = ApiError::internal(cause);
        assert_eq!(
            std::error::Error::source(&error).map(ToString::to_string).as_deref(),
            Some("disk on fire")
        );
        assert_eq!(error.to_string(), "internal error: disk on fire");
        let body = actix_web::body::to_bytes(error.error_response().into_body()).await.unwrap();
        assert_eq!(
            body,
            r#"{"error":"server_error","error_description":"The server failed to handle this request."}"#
        );
        let unavailable = ApiError::unavailable("The database writer has stopped.");
        let body = actix_web::body::to_bytes(unavailable.error_response().into_body()).await.unwrap();
        assert_eq!(
            body,
            r#"{"error":"temporarily_unavailable","error_description":"The service is temporarily unavailable; retry shortly."}"#
        );
    }

    #[test]
    fn the_log_shows_each_cause_of_the_chain_once() {
        /// An error that prints its cause, as many do.
        #[derive(Debug, thiserror::Error)]
        #[error("migration failed: {0}")]
        struct Shows(#[source] std::io::Error);
        /// An error that leaves its cause to the chain.
        #[derive(Debug, thiserror::Error)]
        #[error("cannot start")]
        struct Hides(#[source] Shows);

        let error = ApiError::internal(Hides(Shows(std::io::Error::other("no such table: users"))));
        let Some(cause) = std::error::Error::source(&error) else { panic!("a source") };
        assert_eq!(Chain(cause).to_string(), "cannot start: migration failed: no such table: users");
    }

    /// What SQLite's busy write lock looks like to diesel, so `is_sqlite_busy` matches it.
    #[test]
    fn a_sqlite_write_lock_held_past_the_busy_timeout_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db").display().to_string();
        let mut holder = diesel::SqliteConnection::establish(&path).unwrap();
        holder.batch_execute("CREATE TABLE t (x INTEGER); BEGIN IMMEDIATE").unwrap();
        let mut other = diesel::SqliteConnection::establish(&path).unwrap();
        other.batch_execute("PRAGMA busy_timeout = 0").unwrap();
        let error = other.batch_execute("INSERT INTO t VALUES (1)").expect_err("the lock is taken");
        assert!(matches!(error, DieselError::DatabaseError(DatabaseErrorKind::Unknown, _)), "{error:?}");
        assert_eq!(ApiError::from(error).status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }

    /// What PostgreSQL's side of a lost connection looks like to diesel: the server
    /// ended the session (as in an outage or a restart), and the next statement fails.
    #[test]
    fn a_postgres_session_the_server_ended_is_unavailable() {
        let url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut doomed = PgConnection::establish(&url).expect("connects");
        #[derive(diesel::QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        let Pid { pid } =
            diesel::RunQueryDsl::get_result(diesel::sql_query("SELECT pg_backend_pid() AS pid"), &mut doomed)
                .expect("its pid");
        let mut admin = PgConnection::establish(&url).expect("connects");
        admin.batch_execute(&format!("SELECT pg_terminate_backend({pid})")).expect("terminates");
        // The signal is asynchronous: wait until the backend has gone.
        let gone = format!("SELECT 1 FROM pg_stat_activity WHERE pid = {pid}");
        for _ in 0..100 {
            if diesel::RunQueryDsl::execute(diesel::sql_query(&gone), &mut admin).expect("asks") == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let error = doomed.batch_execute("SELECT 1").expect_err("the session is gone");
        assert!(
            matches!(
                error,
                DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _
                )
            ),
            "{error:?}"
        );
        assert_eq!(ApiError::from(error).status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
