//! Why a command failed; `main` prints it ("portcullis: ...") and exits with 1.

use crate::db;
use crate::domain::{UnknownClientType, UnknownGrantType, UnknownIdTokenAlg};
use crate::error::ApiError;
use crate::import::ImportError;
use crate::startup::StartupError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] diesel::r2d2::Error),
    #[error("{0}")]
    Database(#[from] db::DbError),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error("serve is not an offline command")]
    NotOffline,
    #[error("{0}")]
    Terminal(#[from] std::io::Error),
    #[error("standard input ended before the answer")]
    InputEnded,
    #[error("{0}")]
    ClientType(#[from] UnknownClientType),
    #[error("{0}")]
    GrantTypes(#[from] UnknownGrantType),
    #[error("{0}")]
    IdTokenAlg(#[from] UnknownIdTokenAlg),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("no application with client_id {0}")]
    NoSuchApplication(String),
    /// The server's own checks refused the request: their description, as the API
    /// would give it.
    #[error("{}", refusal(.0))]
    Refused(#[source] ApiError),
    /// Rotating the signing keys failed.
    #[error("{0}")]
    Keys(#[source] ApiError),
    #[error("{0}")]
    Sealed(#[from] crate::tokens::keys::SealError),
    #[error("{0}")]
    Reseal(String),
    #[error("backup: {0}")]
    Backup(String),
    /// The janitor's run failed.
    #[error("prune: {0}")]
    Prune(#[source] ApiError),
    #[error("{0}")]
    Startup(#[from] StartupError),
    #[error("{0}")]
    Import(#[from] ImportError),
}

/// An invalid request's own description; anything else as the error prints.
fn refusal(error: &ApiError) -> String {
    match error {
        ApiError::InvalidRequest(description) => description.clone(),
        other => other.to_string(),
    }
}
