//! Wall-clock time as Unix seconds, the one representation stored in every table.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch. Stored as BIGINT on both backends so that
/// SQLite and PostgreSQL share one schema and one set of queries.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
