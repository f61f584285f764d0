//! Test harness: a real server on 127.0.0.1 over a fresh SQLite file or a fresh
//! PostgreSQL database, and typed helpers to talk to it.

use std::process::{Command, Output, Stdio};
use std::sync::Once;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use portcullis::config::RawSettings;
use portcullis::db::{self, DbConnection};
use portcullis::domain::{ClientType, GrantType};
use portcullis::manage::{self, ApplicationSpec};
use portcullis::startup::Application;
use serde_json::Value;

/// Where the PostgreSQL tests create their databases (trust auth on this machine), in
/// clear unless `TEST_POSTGRES_URL` brings parameters of its own. Why: test servers keep
/// their pools until the test binary exits, and a TLS session libpq still holds then
/// races OpenSSL's exit-time cleanup (seen as a SIGSEGV after every test had passed).
pub fn postgres_admin_url() -> String {
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if url.contains('?') {
        url
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// The URL of database `name` on the admin URL's server, with the same parameters.
fn postgres_url(name: &str) -> String {
    let admin = postgres_admin_url();
    let (path, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let server = path.rsplit_once('/').map_or(path, |(server, _)| server);
    format!("{server}/{name}?{query}")
}

/// The database name in a PostgreSQL URL.
pub fn database_name(url: &str) -> &str {
    let path = url.split_once('?').map_or(url, |(path, _)| path);
    path.rsplit('/').next().unwrap_or(path)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named scenario once on SQLite and once on PostgreSQL:
/// `module::scenario::sqlite` and `module::scenario::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn scenario($backend: $crate::helpers::Backend) $body

                #[actix_web::test]
                async fn sqlite() {
                    scenario($crate::helpers::Backend::Sqlite).await
                }

                #[actix_web::test]
                async fn postgres() {
                    scenario($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

/// The database a test owns; dropped with the test.
enum TestDb {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        name: String,
    },
    /// A replica's: the first server's test owns it.
    Shared,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name } = self {
            if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A registered application as a test client sees it.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

impl TestClient {
    /// `client_id` and `client_secret` as body parameters.
    pub fn body(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("client_id", self.id.clone())];
        if let Some(secret) = &self.secret {
            params.push(("client_secret", secret.clone()));
        }
        params
    }
}

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub http: reqwest::Client,
    _db: TestDb,
}

fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            portcullis::telemetry::init("debug");
        }
    });
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns a server whose settings `configure` may change (by environment-variable name).
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
    init_tracing();
    let (database_url, test_db) = new_database(backend);
    start_server(database_url, test_db, configure).await
}

/// A server whose mail goes over SMTP to a sink the test reads.
pub async fn spawn_app_with_mail(
    backend: Backend,
    configure: impl FnOnce(&mut RawSettings),
) -> (TestApp, crate::smtp_sink::SmtpSink) {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(backend, |raw| {
        raw.set("PORTCULLIS_SMTP_URL", url);
        configure(raw);
    })
    .await;
    (app, sink)
}

/// A database for a server the test starts itself (the binary, say): a SQLite file or a
/// PostgreSQL database, dropped with the value.
pub struct OwnDatabase {
    pub url: String,
    _db: TestDb,
}

impl OwnDatabase {
    pub fn create(backend: Backend) -> Self {
        let (url, db) = new_database(backend);
        OwnDatabase { url, _db: db }
    }
}

fn new_database(backend: Backend) -> (String, TestDb) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            (format!("sqlite://{}", dir.path().join("portcullis.db").display()), TestDb::Sqlite(dir))
        }
        Backend::Postgres => new_postgres_database(),
    }
}

fn new_postgres_database() -> (String, TestDb) {
    let name = format!("t_{}", portcullis::tokens::random::token(9).to_lowercase().replace(['-', '_'], "x"));
    let mut admin = PgConnection::establish(&postgres_admin_url()).expect("PostgreSQL on 127.0.0.1:5432");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
    let url = postgres_url(&name);
    (url, TestDb::Postgres { name })
}

async fn start_server(database_url: String, db: TestDb, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
    let mut raw = RawSettings::default();
    raw.set("DATABASE_URL", &database_url)
        .set("PORTCULLIS_BIND", "127.0.0.1:0")
        .set("PORTCULLIS_WORKERS", "1")
        .set("PORTCULLIS_DB_POOL_SIZE", "8")
        // A janitor run in the middle of a test would delete the rows it set up to expire;
        // the tests of the janitor turn it on.
        .set("PORTCULLIS_JANITOR_INTERVAL", "0");
    configure(&mut raw);
    let settings = raw.parse().expect("test settings");
    let app = Application::build(settings).await.expect("server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    TestApp { address, database_url, http, _db: db }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A direct connection, for setting up and checking rows.
    pub fn db(&self) -> DbConnection {
        let url = portcullis::config::DatabaseUrl::parse(&self.database_url).expect("url");
        db::connect(&url).expect("database connection")
    }

    /// Runs `sql`, a write to `applications` made straight in the database (as an
    /// operator's SQL shell would), and returns once every server has heard of it.
    /// PostgreSQL tells servers of such a change by a notification that arrives a moment
    /// after the commit; waiting for their acknowledgements, as the CLI does, is what
    /// makes "the next request sees it" deterministic.
    pub fn change_applications(
        &self,
        sql: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<usize>,
    ) -> usize {
        let url = portcullis::config::DatabaseUrl::parse(&self.database_url).expect("url");
        let (changed, unconfirmed) = portcullis::auth::client_cache::change_applications(
            &url,
            &mut portcullis::db::Writer::offline(&mut self.db()),
            |conn| Ok(sql(conn)?),
        )
        .expect("the change commits");
        assert_eq!(unconfirmed, 0, "every server confirmed the change");
        changed
    }

    pub fn create_client(&self, client_type: ClientType, grants: &[GrantType]) -> TestClient {
        let spec = ApplicationSpec {
            name: "Test app".into(),
            client_type,
            grant_types: grants.to_vec(),
            redirect_uris: vec!["http://localhost:3000/callback".into()],
            skip_authorization: false,
            owner_id: None,
            ..ApplicationSpec::default()
        };
        let created = manage::create_application(&mut portcullis::db::Writer::offline(&mut self.db()), &spec)
            .expect("application created");
        TestClient { id: created.client_id, secret: created.client_secret.map(|s| s.expose().to_owned()) }
    }

    /// A second server on the same database, as a replica behind a load balancer: the
    /// same issuer, so each verifies the tokens the other signs.
    pub async fn replica(&self) -> TestApp {
        self.replica_with(|_| {}).await
    }

    /// A replica whose settings `configure` may change.
    pub async fn replica_with(&self, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
        let issuer = self.address.clone();
        start_server(self.database_url.clone(), TestDb::Shared, move |raw| {
            raw.set("PORTCULLIS_ISSUER", issuer);
            configure(raw);
        })
        .await
    }

    /// A confidential client allowed password, refresh_token and client_credentials.
    pub fn confidential_client(&self) -> TestClient {
        self.create_client(
            ClientType::Confidential,
            &[GrantType::Password, GrantType::RefreshToken, GrantType::ClientCredentials],
        )
    }

    /// Registers a user through the API and returns its id.
    pub async fn create_user(&self, email: &str, password: &str) -> i64 {
        let response = self
            .http
            .post(self.url("/auth/register"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), 201, "registration of {email} failed");
        let body: Value = response.json().await.expect("json");
        body["id"].as_i64().expect("user id")
    }

    /// A staff user created with the CLI's code path.
    pub fn create_staff(&self, email: &str, password: &str) -> i64 {
        use portcullis::domain::{Email, NewPassword, PasswordRules};
        let email = Email::parse(email).expect("email");
        let password =
            NewPassword::parse(password, &PasswordRules { email: Some(email.as_str()), username: None })
                .expect("password");
        let mut conn = self.db();
        manage::create_superuser(
            &mut portcullis::db::Writer::offline(&mut conn),
            &email,
            &password,
            None,
            |_, _| Ok(0),
        )
        .expect("superuser")
        .id
    }

    pub fn set_active(&self, user_id: i64, active: bool) {
        use diesel::prelude::*;
        use portcullis::store::schema::users;
        diesel::update(users::table.find(user_id))
            .set(users::is_active.eq(active))
            .execute(&mut self.db())
            .expect("user updated");
    }

    pub async fn post_form(&self, path: &str, params: &[(&str, String)]) -> reqwest::Response {
        self.http.post(self.url(path)).form(params).send().await.expect("request sent")
    }

    /// A request to `/auth/token` on behalf of `client`, its credentials in the form body
    /// unless the builder says otherwise.
    pub fn token(&self, client: &TestClient) -> TokenRequest<'_> {
        TokenRequest::new(self, "/auth/token", client)
    }

    /// A request to `/auth/convert-token`, built like a token request.
    pub fn convert_token(&self, client: &TestClient) -> TokenRequest<'_> {
        TokenRequest::new(self, "/auth/convert-token", client)
    }

    /// Password grant with `PASSWORD` on `client`; returns the token response.
    pub async fn sign_in(&self, client: &TestClient, email: &str) -> Value {
        self.token(client).password(email, PASSWORD).ok().await
    }

    pub async fn get_user(&self, access_token: &str) -> reqwest::Response {
        self.http.get(self.url("/auth/user")).bearer_auth(access_token).send().await.expect("request sent")
    }

    pub async fn user_status(&self, access_token: &str) -> u16 {
        self.get_user(access_token).await.status().as_u16()
    }

    pub async fn introspect(&self, client: &TestClient, token: &str) -> Value {
        let mut params = client.body();
        params.push(("token", token.to_owned()));
        let response = self.post_form("/auth/introspect", &params).await;
        assert_eq!(response.status(), 200, "introspection failed");
        response.json().await.expect("json")
    }

    /// Runs the CLI against this test's database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env_remove("PORTCULLIS_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("portcullis binary runs");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).expect("stdin written");
        }
        drop(pipe);
        child.wait_with_output().expect("cli finished")
    }
}

/// A token request, built as a test reads: who asks, for which grant, then `send`.
/// The client authenticates with `client_id` (and `client_secret` if it has one) as body
/// parameters unless `basic` says HTTP Basic.
///
/// `app.token(&client).password("a@b.c", PASSWORD).scope("read").send().await`
#[must_use = "a token request does nothing until it is sent"]
pub struct TokenRequest<'a> {
    app: &'a TestApp,
    path: &'static str,
    client_id: String,
    secret: Option<String>,
    basic: bool,
    json: bool,
    params: Vec<(&'static str, String)>,
}

impl<'a> TokenRequest<'a> {
    fn new(app: &'a TestApp, path: &'static str, client: &TestClient) -> Self {
        TokenRequest {
            app,
            path,
            client_id: client.id.clone(),
            secret: client.secret.clone(),
            basic: false,
            json: false,
            params: Vec::new(),
        }
    }

    /// Any body parameter, in the order given.
    pub fn param(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.params.push((key, value.into()));
        self
    }

    pub fn grant(self, grant_type: &str) -> Self {
        self.param("grant_type", grant_type)
    }

    pub fn password(self, username: &str, password: &str) -> Self {
        self.grant("password").param("username", username).param("password", password)
    }

    pub fn refresh(self, refresh_token: &str) -> Self {
        self.grant("refresh_token").param("refresh_token", refresh_token)
    }

    pub fn client_credentials(self) -> Self {
        self.grant("client_credentials")
    }

    pub fn authorization_code(self, code: &str, redirect_uri: &str, code_verifier: &str) -> Self {
        self.grant("authorization_code")
            .param("code", code)
            .param("redirect_uri", redirect_uri)
            .param("code_verifier", code_verifier)
    }

    /// The `convert_token` grant for a provider's token.
    pub fn social(self, backend: &str, token: &str) -> Self {
        self.grant("convert_token").param("backend", backend).param("token", token)
    }

    pub fn scope(self, scope: &str) -> Self {
        self.param("scope", scope)
    }

    /// Authenticates with this secret instead of the client's own.
    pub fn secret(mut self, secret: &str) -> Self {
        self.secret = Some(secret.to_owned());
        self
    }

    /// Sends the client's id alone, even if it has a secret.
    pub fn without_secret(mut self) -> Self {
        self.secret = None;
        self
    }

    /// Client credentials in an HTTP Basic header instead of the body.
    pub fn basic(mut self) -> Self {
        self.basic = true;
        self
    }

    /// A JSON body instead of a form.
    pub fn json(mut self) -> Self {
        self.json = true;
        self
    }

    /// Another path than the builder's endpoint (say, with a trailing slash).
    pub fn at(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }

    pub async fn send(self) -> reqwest::Response {
        let mut params = Vec::new();
        if !self.basic {
            params.push(("client_id", self.client_id.clone()));
            if let Some(secret) = &self.secret {
                params.push(("client_secret", secret.clone()));
            }
        }
        params.extend(self.params);
        let mut request = self.app.http.post(self.app.url(self.path));
        if self.basic {
            request = request.basic_auth(&self.client_id, self.secret.as_ref());
        }
        request = if self.json {
            let object: serde_json::Map<String, Value> =
                params.into_iter().map(|(key, value)| (key.to_owned(), Value::String(value))).collect();
            request.json(&object)
        } else {
            request.form(&params)
        };
        request.send().await.expect("request sent")
    }

    /// Sends the request and returns its JSON body; panics unless the status is 200.
    pub async fn ok(self) -> Value {
        let path = self.path;
        let response = self.send().await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, 200, "{path} failed: {body}");
        serde_json::from_str(&body).expect("json")
    }
}

/// Asserts an OAuth error body and status; returns the body for further checks.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"], error, "unexpected error in {body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "no description in {body}");
    body
}

/// A password every test user may share: it passes the sign-up rules.
pub const PASSWORD: &str = "correct horse battery";

pub fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_else(|| panic!("no '{key}' in {value}")).to_owned()
}
