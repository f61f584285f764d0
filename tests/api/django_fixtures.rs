//! The drf-social-oauth2 databases in `tests/fixtures/django/` hold what `expected.json` says:
//! the SQLite file as committed and the PostgreSQL dump restored with `psql`, read with diesel.
//! These are the sources `import-django` will be held to, so their shape is checked here.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::{Backend, OwnDatabase};

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/django")
}

#[derive(Deserialize)]
struct Expected {
    users: Vec<ExpectedUser>,
    deleted_user_ids: Vec<i64>,
    applications: Vec<ExpectedApplication>,
    deleted_application: DeletedApplication,
    social_links: Vec<ExpectedLink>,
    access_tokens: Vec<ExpectedAccess>,
    refresh_tokens: Vec<ExpectedRefresh>,
    rotated_away_access_tokens: Vec<String>,
}

#[derive(Deserialize)]
struct ExpectedUser {
    id: i64,
    username: String,
    email: String,
    password: Option<String>,
    hasher: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: String,
}

#[derive(Deserialize)]
struct ExpectedApplication {
    id: i64,
    client_id: String,
    client_type: String,
    authorization_grant_type: String,
    client_secret: Option<String>,
    hash_client_secret: bool,
    redirect_uris: String,
    skip_authorization: bool,
}

#[derive(Deserialize)]
struct DeletedApplication {
    application_id: i64,
    client_id: String,
    tokens: Vec<String>,
}

#[derive(Deserialize)]
struct ExpectedLink {
    id: i64,
    user_id: i64,
    provider: String,
    uid: String,
}

#[derive(Deserialize)]
struct ExpectedAccess {
    id: i64,
    token: String,
    user_id: Option<i64>,
    application_id: i64,
    scope: String,
    expires: String,
    expired: bool,
}

#[derive(Deserialize)]
struct ExpectedRefresh {
    id: i64,
    token: String,
    user_id: i64,
    application_id: i64,
    access_token_id: Option<i64>,
    revoked: Option<String>,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixtures_dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

/// A fixture database, as a URL the importer takes, alive as long as the value: a copy
/// of the SQLite file (nothing a test does may touch the committed one), or the dump
/// restored into a PostgreSQL database of its own.
pub struct DjangoSource {
    pub url: String,
    _sqlite: Option<tempfile::TempDir>,
    _postgres: Option<OwnDatabase>,
}

impl DjangoSource {
    pub fn new(backend: Backend) -> DjangoSource {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("drf.sqlite3");
                std::fs::copy(fixtures_dir().join("drf.sqlite3"), &path).expect("copy drf.sqlite3");
                DjangoSource {
                    url: format!("sqlite://{}", path.display()),
                    _sqlite: Some(dir),
                    _postgres: None,
                }
            }
            Backend::Postgres => {
                let db = OwnDatabase::create(Backend::Postgres);
                let restore = Command::new("psql")
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
                    .arg(fixtures_dir().join("drf.postgres.sql"))
                    .output()
                    .expect("psql runs");
                assert!(
                    restore.status.success(),
                    "psql -f drf.postgres.sql: {}",
                    String::from_utf8_lossy(&restore.stderr)
                );
                DjangoSource { url: db.url.clone(), _sqlite: None, _postgres: Some(db) }
            }
        }
    }
}

/// A fixture database, opened the way the importer will open it.
enum Source {
    // The database is declared after the connection, so it is dropped after it.
    Sqlite(SqliteConnection, #[allow(dead_code)] DjangoSource),
    Postgres(PgConnection, #[allow(dead_code)] DjangoSource),
}

impl Source {
    fn open(backend: Backend) -> Source {
        let source = DjangoSource::new(backend);
        match source.url.strip_prefix("sqlite://") {
            Some(path) => {
                Source::Sqlite(SqliteConnection::establish(path).expect("open drf.sqlite3"), source)
            }
            None => Source::Postgres(
                PgConnection::establish(&source.url).expect("connect to the restored dump"),
                source,
            ),
        }
    }

    /// `column` (a Django datetime) as `YYYY-MM-DDTHH:MM:SSZ`, or NULL.
    fn iso(&self, column: &str) -> String {
        match self {
            Source::Sqlite(..) => format!("strftime('%Y-%m-%dT%H:%M:%SZ', {column})"),
            Source::Postgres(..) => {
                format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
            }
        }
    }

    fn rows<T>(&mut self, sql: &str) -> Vec<T>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        match self {
            Source::Sqlite(conn, _) => diesel::sql_query(sql).load(conn),
            Source::Postgres(conn, _) => diesel::sql_query(sql).load(conn),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

fn by_id<T>(rows: Vec<T>, id: impl Fn(&T) -> i64) -> HashMap<i64, T> {
    rows.into_iter().map(|row| (id(&row), row)).collect()
}

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Bool)]
    is_active: bool,
    #[diesel(sql_type = Bool)]
    is_staff: bool,
    #[diesel(sql_type = Bool)]
    is_superuser: bool,
    #[diesel(sql_type = Text)]
    date_joined: String,
}

#[derive(QueryableByName)]
struct ApplicationRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    client_id: String,
    #[diesel(sql_type = Text)]
    client_type: String,
    #[diesel(sql_type = Text)]
    authorization_grant_type: String,
    #[diesel(sql_type = Text)]
    client_secret: String,
    #[diesel(sql_type = Bool)]
    hash_client_secret: bool,
    #[diesel(sql_type = Text)]
    redirect_uris: String,
    #[diesel(sql_type = Bool)]
    skip_authorization: bool,
}

#[derive(QueryableByName)]
struct LinkRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Text)]
    uid: String,
    #[diesel(sql_type = Text)]
    extra_data: String,
}

#[derive(QueryableByName)]
struct AccessRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = Text)]
    token_checksum: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    user_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    application_id: Option<i64>,
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Text)]
    expires: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    source_refresh_token_id: Option<i64>,
}

#[derive(QueryableByName)]
struct RefreshRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = Text)]
    token_checksum: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    application_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    access_token_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    revoked: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    token_family: Option<String>,
}

fn load_users(source: &mut Source) -> HashMap<i64, UserRow> {
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, username, email, password, is_active, is_staff, is_superuser, \
         {} AS date_joined FROM auth_user",
        source.iso("date_joined")
    );
    by_id(source.rows(&sql), |row: &UserRow| row.id)
}

fn load_access_tokens(source: &mut Source) -> HashMap<i64, AccessRow> {
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, token, token_checksum, CAST(user_id AS BIGINT) AS user_id, \
         CAST(application_id AS BIGINT) AS application_id, scope, {} AS expires, \
         CAST(source_refresh_token_id AS BIGINT) AS source_refresh_token_id FROM oauth2_provider_accesstoken",
        source.iso("expires")
    );
    by_id(source.rows(&sql), |row: &AccessRow| row.id)
}

fn load_refresh_tokens(source: &mut Source) -> HashMap<i64, RefreshRow> {
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, token, token_checksum, CAST(user_id AS BIGINT) AS user_id, \
         CAST(application_id AS BIGINT) AS application_id, CAST(access_token_id AS BIGINT) AS access_token_id, \
         {} AS revoked, CAST(token_family AS TEXT) AS token_family FROM oauth2_provider_refreshtoken",
        source.iso("revoked")
    );
    by_id(source.rows(&sql), |row: &RefreshRow| row.id)
}

/// The prefix Django writes for each hasher's name in `expected.json`.
fn hash_prefix(hasher: &str) -> &'static str {
    match hasher {
        "pbkdf2_sha256" => "pbkdf2_sha256$",
        "pbkdf2_sha1" => "pbkdf2_sha1$",
        "argon2" => "argon2$argon2id$",
        "bcrypt_sha256" => "bcrypt_sha256$",
        "bcrypt" => "bcrypt$",
        "scrypt" => "scrypt$",
        "unusable" => "!",
        other => panic!("expected.json names an unknown hasher {other}"),
    }
}

both_backends! {
    async fn users_keep_their_ids_flags_and_each_hashers_django_hash(backend) {
        let expected = expected();
        let mut source = Source::open(backend);
        let users = load_users(&mut source);

        assert_eq!(users.len(), expected.users.len());
        for want in &expected.users {
            let row = users.get(&want.id).unwrap_or_else(|| panic!("user {} missing", want.id));
            assert_eq!(row.username, want.username);
            assert_eq!(row.email, want.email);
            assert_eq!(
                (row.is_active, row.is_staff, row.is_superuser),
                (want.is_active, want.is_staff, want.is_superuser),
                "{}",
                want.username
            );
            assert_eq!(row.date_joined, want.date_joined);
            assert!(row.password.starts_with(hash_prefix(&want.hasher)), "{}: {}", want.username, want.hasher);
            if let Some(password) = &want.password {
                assert!(!row.password.contains(password.as_str()), "{} stored in clear", want.username);
            }
        }
        for id in &expected.deleted_user_ids {
            assert!(!users.contains_key(id), "deleted user {id} is still there");
        }
        let hashers: BTreeSet<&str> = expected.users.iter().map(|u| u.hasher.as_str()).collect();
        assert_eq!(
            hashers,
            BTreeSet::from(["argon2", "bcrypt", "bcrypt_sha256", "pbkdf2_sha1", "pbkdf2_sha256", "scrypt", "unusable"])
        );
    }

    async fn the_argon2_users_plain_password_matches_its_django_hash(backend) {
        let expected = expected();
        let mut source = Source::open(backend);
        let users = load_users(&mut source);
        let carol = expected.users.iter().find(|u| u.hasher == "argon2").expect("an argon2 user");

        // Django's argon2 hash is the PHC string behind the word "argon2".
        let stored = &users[&carol.id].password;
        let phc = PasswordHash::new(stored.strip_prefix("argon2").unwrap()).expect("a PHC string");

        let password = carol.password.as_deref().unwrap();
        assert!(Argon2::default().verify_password(password.as_bytes(), &phc).is_ok());
        assert!(Argon2::default().verify_password(b"not-carols-password", &phc).is_err());
    }

    async fn two_users_hold_emails_that_differ_only_in_case(backend) {
        let mut source = Source::open(backend);
        let users = load_users(&mut source);

        let mut by_folded: HashMap<String, Vec<i64>> = HashMap::new();
        for user in users.values() {
            by_folded.entry(user.email.to_lowercase()).or_default().push(user.id);
        }
        let collisions: Vec<_> = by_folded.values().filter(|ids| ids.len() > 1).collect();
        assert_eq!(collisions.len(), 1, "{collisions:?}");
        let distinct: BTreeSet<&str> =
            users.values().filter(|u| collisions[0].contains(&u.id)).map(|u| u.email.as_str()).collect();
        assert_eq!(distinct.len(), 2, "the two addresses are spelled differently: {distinct:?}");
    }

    async fn applications_keep_client_ids_and_secrets_hashed_or_clear(backend) {
        let expected = expected();
        let mut source = Source::open(backend);
        let sql = "SELECT CAST(id AS BIGINT) AS id, client_id, client_type, authorization_grant_type, \
                   client_secret, hash_client_secret, redirect_uris, skip_authorization \
                   FROM oauth2_provider_application";
        let apps = by_id(source.rows(sql), |row: &ApplicationRow| row.id);

        assert_eq!(apps.len(), expected.applications.len());
        for want in &expected.applications {
            let row = &apps[&want.id];
            assert_eq!(row.client_id, want.client_id);
            assert_eq!(row.client_type, want.client_type);
            assert_eq!(row.authorization_grant_type, want.authorization_grant_type);
            assert_eq!(row.redirect_uris, want.redirect_uris);
            assert_eq!(row.skip_authorization, want.skip_authorization);
            assert_eq!(row.hash_client_secret, want.hash_client_secret);
            if want.hash_client_secret {
                // DOT hashes with Django's first PASSWORD_HASHERS entry.
                assert!(row.client_secret.starts_with("pbkdf2_sha256$"), "{}", want.client_id);
                if let Some(secret) = &want.client_secret {
                    assert!(!row.client_secret.contains(secret.as_str()));
                }
            } else {
                assert_eq!(Some(&row.client_secret), want.client_secret.as_ref());
            }
        }
        let grants: BTreeSet<&str> = apps.values().map(|a| a.authorization_grant_type.as_str()).collect();
        assert_eq!(grants, BTreeSet::from(["authorization-code", "client-credentials", "password"]));
        assert!(apps.values().any(|a| a.client_type == "public"));
        assert!(!apps.contains_key(&expected.deleted_application.application_id));
        assert!(!apps.values().any(|a| a.client_id == expected.deleted_application.client_id));
    }

    async fn social_links_key_google_by_email_or_sub_and_facebook_by_id(backend) {
        let expected = expected();
        let mut source = Source::open(backend);
        let sql = "SELECT CAST(id AS BIGINT) AS id, CAST(user_id AS BIGINT) AS user_id, provider, uid, \
                   CAST(extra_data AS TEXT) AS extra_data FROM social_auth_usersocialauth";
        let links = by_id(source.rows(sql), |row: &LinkRow| row.id);

        assert_eq!(links.len(), expected.social_links.len());
        for want in &expected.social_links {
            let row = &links[&want.id];
            assert_eq!((row.user_id, row.provider.as_str(), row.uid.as_str()), (want.user_id, want.provider.as_str(), want.uid.as_str()));
            let extra: serde_json::Value = serde_json::from_str(&row.extra_data).expect("extra_data is JSON");
            assert!(extra["access_token"].is_string(), "{}", row.extra_data);
        }
        let google: Vec<&LinkRow> = links.values().filter(|l| l.provider == "google-oauth2").collect();
        assert!(google.iter().any(|l| l.uid.contains('@')), "a Google link keyed by email");
        assert!(google.iter().any(|l| l.uid.chars().all(|c| c.is_ascii_digit())), "a Google link keyed by sub");
        assert!(links.values().any(|l| l.provider == "facebook"));
    }

    async fn access_tokens_are_stored_in_clear_beside_their_sha256(backend) {
        let expected = expected();
        let mut source = Source::open(backend);
        let tokens = load_access_tokens(&mut source);

        assert_eq!(tokens.len(), expected.access_tokens.len());
        for want in &expected.access_tokens {
            let row = &tokens[&want.id];
            assert_eq!(row.token, want.token);
            assert_eq!(row.token_checksum, sha256_hex(&want.token));
            assert_eq!((row.user_id, row.application_id), (want.user_id, Some(want.application_id)));
            assert_eq!(row.scope, want.scope);
            assert_eq!(row.expires, want.expires);
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let expired: Vec<&ExpectedAccess> = expected.access_tokens.iter().filter(|t| t.expired).collect();
        assert_eq!(expired.len(), 1);
        assert!(expired[0].expires < now);
        assert!(expected.access_tokens.iter().filter(|t| !t.expired).all(|t| t.expires > now));
        assert!(expected.access_tokens.iter().any(|t| t.user_id.is_none()), "a client-credentials token");

        let gone: Vec<&String> =
            expected.rotated_away_access_tokens.iter().chain(&expected.deleted_application.tokens).collect();
        assert!(tokens.values().all(|row| !gone.contains(&&row.token)));
    }

    async fn refresh_tokens_are_live_or_revoked_by_rotation(backend) {
        let expected = expected();
        let mut source = Source::open(backend);
        let refresh = load_refresh_tokens(&mut source);
        let access = load_access_tokens(&mut source);

        assert_eq!(refresh.len(), expected.refresh_tokens.len());
        for want in &expected.refresh_tokens {
            let row = &refresh[&want.id];
            assert_eq!(row.token, want.token);
            assert_eq!(row.token_checksum, sha256_hex(&want.token));
            assert_eq!((row.user_id, row.application_id), (want.user_id, want.application_id));
            assert_eq!(row.access_token_id, want.access_token_id);
            assert_eq!(row.revoked, want.revoked);
            if let Some(access_id) = row.access_token_id {
                assert_eq!(access[&access_id].user_id, Some(row.user_id), "a refresh token and its access token");
            }
        }

        // Rotation revoked the presented token, dropped its access token, and issued a child in
        // the same family whose access token points back at the revoked one.
        let revoked: Vec<&RefreshRow> = refresh.values().filter(|r| r.revoked.is_some()).collect();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].access_token_id, None);
        let child = refresh
            .values()
            .find(|r| r.revoked.is_none() && r.token_family.is_some() && r.token_family == revoked[0].token_family)
            .expect("the rotated token's live child");
        let child_access = &access[&child.access_token_id.expect("the child's access token")];
        assert_eq!(child_access.source_refresh_token_id, Some(revoked[0].id));

        // A live refresh token whose access token has expired.
        let expired = expected.access_tokens.iter().find(|t| t.expired).unwrap();
        assert!(refresh.values().any(|r| r.revoked.is_none() && r.access_token_id == Some(expired.id)));
        assert!(refresh.values().all(|r| !expected.deleted_application.tokens.contains(&r.token)));
    }
}
