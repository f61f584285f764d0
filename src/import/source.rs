//! The Django database an import reads: SQLite or PostgreSQL, whatever the target is, read
//! with plain SQL so that Django's column types (text datetimes and 0/1 booleans on SQLite,
//! `timestamptz`, `jsonb` and `integer` ids on PostgreSQL) arrive as one shape.

use std::path::Path;

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde::Serialize;

use crate::tokens::random::sha256_hex;

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

/// A row of `oauth2_provider_refreshtoken`, with the scope of the access token it was
/// issued with (DOT keeps that row while the refresh token lives, expired or not).
#[derive(QueryableByName, Serialize)]
pub struct DjangoRefreshToken {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = BigInt)]
    pub application_id: i64,
    #[serde(skip)]
    #[diesel(sql_type = Text)]
    token: String,
    #[serde(skip)]
    #[diesel(sql_type = Text)]
    checksum: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub scope: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
    #[diesel(sql_type = Bool)]
    pub revoked: bool,
}

/// A row of `oauth2_provider_accesstoken` that has not expired, with the live refresh token
/// that points at it, if any.
#[derive(QueryableByName, Serialize)]
pub struct DjangoAccessToken {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub user_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub application_id: Option<i64>,
    #[serde(skip)]
    #[diesel(sql_type = Text)]
    token: String,
    #[serde(skip)]
    #[diesel(sql_type = Text)]
    checksum: String,
    #[diesel(sql_type = Text)]
    pub scope: String,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
    #[diesel(sql_type = BigInt)]
    pub expires: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub refresh_token_id: Option<i64>,
}

/// The SHA-256 hex of a token: DOT's `token_checksum` when it has one (with
/// `COMPLIANT_BCP_RFC9700_TOKEN_STORAGE` it is all there is), computed from `token`
/// otherwise (DOT before 3.4). `None` when neither is usable.
fn token_sha256(checksum: &str, token: &str) -> Option<String> {
    let checksum = checksum.trim().to_ascii_lowercase();
    if checksum.len() == 64 && checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(checksum);
    }
    (!token.is_empty()).then(|| sha256_hex(token))
}

impl DjangoRefreshToken {
    pub fn sha256(&self) -> Option<String> {
        token_sha256(&self.checksum, &self.token)
    }
}

impl DjangoAccessToken {
    pub fn sha256(&self) -> Option<String> {
        token_sha256(&self.checksum, &self.token)
    }
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

    /// DOT's `token_checksum` column, or an empty string where DOT (before 3.4) has none.
    fn checksum_column(&mut self, table: &str, alias: &str) -> Result<String, SourceError> {
        Ok(if self.has_column(table, "token_checksum")? {
            format!("{alias}.token_checksum")
        } else {
            "''".to_owned()
        })
    }

    /// Refresh tokens, revoked ones included: a re-run revokes what Django revoked since.
    pub fn refresh_tokens(&mut self, after: i64, limit: i64) -> Result<Vec<DjangoRefreshToken>, SourceError> {
        let checksum = self.checksum_column("oauth2_provider_refreshtoken", "r")?;
        let sql = format!(
            "SELECT CAST(r.id AS BIGINT) AS id, CAST(r.user_id AS BIGINT) AS user_id, \
             CAST(r.application_id AS BIGINT) AS application_id, r.token AS token, {checksum} AS checksum, \
             a.scope AS scope, {} AS created, (r.revoked IS NOT NULL) AS revoked \
             FROM oauth2_provider_refreshtoken r \
             LEFT JOIN oauth2_provider_accesstoken a ON a.id = r.access_token_id \
             WHERE r.id > {after} ORDER BY r.id LIMIT {limit}",
            self.epoch("r.created")
        );
        self.rows(&sql)
    }

    /// Access tokens that expire after `now`; expired ones are of no use to anyone.
    pub fn access_tokens(
        &mut self,
        now: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DjangoAccessToken>, SourceError> {
        let checksum = self.checksum_column("oauth2_provider_accesstoken", "a")?;
        let expires = self.epoch("a.expires");
        // `access_token_id` is unique: at most one refresh token per access token.
        let sql = format!(
            "SELECT CAST(a.id AS BIGINT) AS id, CAST(a.user_id AS BIGINT) AS user_id, \
             CAST(a.application_id AS BIGINT) AS application_id, a.token AS token, {checksum} AS checksum, \
             a.scope AS scope, {} AS created, {expires} AS expires, CAST(r.id AS BIGINT) AS refresh_token_id \
             FROM oauth2_provider_accesstoken a \
             LEFT JOIN oauth2_provider_refreshtoken r ON r.access_token_id = a.id AND r.revoked IS NULL \
             WHERE a.id > {after} AND {expires} > {now} ORDER BY a.id LIMIT {limit}",
            self.epoch("a.created")
        );
        self.rows(&sql)
    }
}
