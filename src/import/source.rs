//! The Django database an import reads: SQLite or PostgreSQL, whatever the target is, read
//! with plain SQL so that Django's column types (text datetimes and 0/1 booleans on SQLite,
//! `timestamptz`, `jsonb` and `integer` ids on PostgreSQL) arrive as one shape.

use std::path::Path;

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde::Serialize;

/// Why the source could not be read. Never carries the URL, which may hold a password.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("expected --from sqlite:///PATH or postgres://...")]
    BadUrl,
    #[error("no such file: {0}")]
    NoFile(String),
    #[error("--user-table must be a table name (letters, digits, `_`, optionally schema.table)")]
    BadTable,
    #[error("{0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
}

/// A table name safe to put into SQL: `table` or `schema.table`, each part an identifier.
pub struct TableName(String);

impl TableName {
    pub fn parse(raw: &str) -> Result<Self, SourceError> {
        let identifier = |part: &str| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && part.len() <= 63
        };
        let parts: Vec<&str> = raw.split('.').collect();
        if parts.len() > 2 || !parts.iter().all(|p| identifier(p)) {
            return Err(SourceError::BadTable);
        }
        Ok(Self(parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(".")))
    }
}

/// A connection to the Django database.
pub enum Source {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// A row of `auth_user` (or the table named).
#[derive(QueryableByName, Serialize)]
pub struct DjangoUser {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub username: String,
    #[diesel(sql_type = Text)]
    pub email: String,
    /// Django's encoded hash; `!...` is no usable password.
    #[diesel(sql_type = Text)]
    pub password: String,
    #[diesel(sql_type = Text)]
    pub first_name: String,
    #[diesel(sql_type = Text)]
    pub last_name: String,
    #[diesel(sql_type = Bool)]
    pub is_active: bool,
    #[diesel(sql_type = Bool)]
    pub is_staff: bool,
    #[diesel(sql_type = Bool)]
    pub is_superuser: bool,
    #[diesel(sql_type = BigInt)]
    pub date_joined: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_login: Option<i64>,
}

#[derive(QueryableByName)]
pub struct DjangoEmail {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub email: String,
}

/// A row of `oauth2_provider_application`.
#[derive(QueryableByName, Serialize)]
pub struct DjangoApplication {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub client_id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub client_type: String,
    #[diesel(sql_type = Text)]
    pub authorization_grant_type: String,
    /// In clear, or a Django password hash when `hash_client_secret`.
    #[serde(skip)]
    #[diesel(sql_type = Text)]
    pub client_secret: String,
    #[serde(skip)]
    #[diesel(sql_type = Bool)]
    pub hash_client_secret: bool,
    #[diesel(sql_type = Text)]
    pub redirect_uris: String,
    #[diesel(sql_type = Bool)]
    pub skip_authorization: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub user_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
}

/// A row of `social_auth_usersocialauth`.
#[derive(QueryableByName, Serialize)]
pub struct DjangoSocialLink {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub provider: String,
    #[diesel(sql_type = Text)]
    pub uid: String,
    #[diesel(sql_type = Text)]
    pub extra_data: String,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Source {
    /// Opens `sqlite:///path` (read-only: an import never writes its source) or `postgres://...`.
    pub fn open(url: &str) -> Result<Source, SourceError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Source::Postgres(PgConnection::establish(url)?));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or(SourceError::BadUrl)?;
        if path.is_empty() {
            return Err(SourceError::BadUrl);
        }
        // Opening a missing file would create an empty database and report no users.
        if !Path::new(path).is_file() {
            return Err(SourceError::NoFile(path.to_owned()));
        }
        let encoded = path.replace('%', "%25").replace('?', "%3f").replace('#', "%23");
        Ok(Source::Sqlite(SqliteConnection::establish(&format!("file:{encoded}?mode=ro"))?))
    }

    fn rows<T>(&mut self, sql: &str) -> Result<Vec<T>, SourceError>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        Ok(match self {
            Source::Sqlite(conn) => diesel::sql_query(sql).load(conn),
            Source::Postgres(conn) => diesel::sql_query(sql).load(conn),
        }?)
    }

    /// `column`, a Django datetime (UTC), as Unix seconds.
    fn epoch(&self, column: &str) -> String {
        match self {
            Source::Sqlite(_) => format!("CAST(strftime('%s', {column}) AS BIGINT)"),
            Source::Postgres(_) => format!("CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"),
        }
    }

    fn has_column(&mut self, table: &str, column: &str) -> Result<bool, SourceError> {
        // Both names are ours, never the operator's.
        let sql = match self {
            Source::Sqlite(_) => {
                format!("SELECT COUNT(*) AS n FROM pragma_table_info('{table}') WHERE name = '{column}'")
            }
            Source::Postgres(_) => format!(
                "SELECT COUNT(*) AS n FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}' AND column_name = '{column}'"
            ),
        };
        Ok(self.rows::<Count>(&sql)?.first().is_some_and(|c| c.n > 0))
    }

    /// Up to `limit` users with ids above `after`, by id.
    pub fn users(
        &mut self,
        table: &TableName,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DjangoUser>, SourceError> {
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS id, username, email, password, first_name, last_name, is_active, \
             is_staff, is_superuser, {} AS date_joined, {} AS last_login FROM {} \
             WHERE id > {after} ORDER BY id LIMIT {limit}",
            self.epoch("date_joined"),
            self.epoch("last_login"),
            table.0
        );
        self.rows(&sql)
    }

    /// Every user's email, to find the addresses that collide before importing any.
    pub fn user_emails(&mut self, table: &TableName) -> Result<Vec<DjangoEmail>, SourceError> {
        self.rows(&format!("SELECT CAST(id AS BIGINT) AS id, email FROM {} ORDER BY id", table.0))
    }

    pub fn applications(&mut self, after: i64, limit: i64) -> Result<Vec<DjangoApplication>, SourceError> {
        // django-oauth-toolkit before 2.0 has no `hash_client_secret`: its secrets are clear.
        let hashed = if self.has_column("oauth2_provider_application", "hash_client_secret")? {
            "hash_client_secret"
        } else {
            "(1 = 0)"
        };
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS id, client_id, name, client_type, authorization_grant_type, \
             client_secret, {hashed} AS hash_client_secret, redirect_uris, skip_authorization, \
             CAST(user_id AS BIGINT) AS user_id, {} AS created FROM oauth2_provider_application \
             WHERE id > {after} ORDER BY id LIMIT {limit}",
            self.epoch("created")
        );
        self.rows(&sql)
    }

    pub fn social_links(&mut self, after: i64, limit: i64) -> Result<Vec<DjangoSocialLink>, SourceError> {
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS id, CAST(user_id AS BIGINT) AS user_id, provider, uid, \
             CAST(extra_data AS TEXT) AS extra_data, {} AS created FROM social_auth_usersocialauth \
             WHERE id > {after} ORDER BY id LIMIT {limit}",
            self.epoch("created")
        );
        self.rows(&sql)
    }
}
