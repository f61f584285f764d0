//! What every handler shares: the pool, the settings and the token machinery.

use std::sync::Arc;

use crate::auth::client_auth::ClientAuth;
use crate::auth::passwords::HashLimiter;
use crate::config::Settings;
use crate::db::{DbPool, Writes};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::tokens::{KeyStore, TokenIssuer};

pub struct AppState {
    pub pool: DbPool,
    /// Who a client is and what it may do (`auth::client_auth`).
    pub clients: Arc<ClientAuth>,
    /// Where work that writes runs (group commit on SQLite).
    pub writes: Writes,
    pub settings: Arc<Settings>,
    pub keys: Arc<KeyStore>,
    pub issuer: Arc<TokenIssuer>,
    pub hashes: HashLimiter,
    pub metrics: Arc<Metrics>,
    pub providers: Providers,
    /// The queue of outgoing mail (`mail`).
    pub mailer: Mailer,
    /// Keys cookies and encrypts provider refresh tokens at rest.
    pub secret_key: secrecy::SecretString,
}
