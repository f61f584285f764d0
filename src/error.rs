//! The OAuth error type every handler returns, and its one mapping to HTTP.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

/// Field name -> messages, for registration and other form validation.
pub type FieldErrors = BTreeMap<&'static str, Vec<String>>;

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
    MethodNotAllowed,
    #[error("too many attempts")]
    RateLimited { retry_after: i64 },
    #[error("request body too large")]
    PayloadTooLarge,
    /// The database or an identity provider did not answer.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
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

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
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
            Self::MethodNotAllowed => "invalid_request",
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
            Self::MethodNotAllowed => "This method is not allowed here.".into(),
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
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
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

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Self::Unavailable(error.to_string()),
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if is_lock_or_connection_failure(info.message()) =>
            {
                Self::Unavailable(error.to_string())
            }
            _ => Self::Internal(error.to_string()),
        }
    }
}

/// SQLite reports lock contention and PostgreSQL dropped connections as plain messages.
fn is_lock_or_connection_failure(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["database is locked", "terminating connection", "connection", "server closed", "could not connect"]
        .iter()
        .any(|needle| message.contains(needle))
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Unavailable(error.to_string())
    }
}
