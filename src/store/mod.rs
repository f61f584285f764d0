//! Diesel models and queries, one file per table family. Queries return `QueryResult`;
//! errors become HTTP answers only at the route boundary.

pub mod admin_tokens;
pub mod applications;
pub mod attempts;
pub mod audit;
pub mod backup;
pub mod browser;
pub mod django_imports;
pub mod email_tokens;
pub mod janitor;
pub mod keys;
pub mod openid_sign_ins;
pub mod pairs;
pub mod returning_sign_in;
pub mod rotation;
pub mod schema;
pub mod secrets;
pub mod social;
pub mod tokens;
pub mod users;

/// A page of a listing: `?page=` (from 1) and `?per_page=` (1 to 100, default 20).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub fn new(page: Option<i64>, per_page: Option<i64>) -> Self {
        Self { page: page.unwrap_or(1).max(1), per_page: per_page.unwrap_or(20).clamp(1, 100) }
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}
