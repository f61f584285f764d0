//! The CLI run as a real process against the test's database.

use diesel::RunQueryDsl;
use portcullis::db::DbConnection;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, text, Backend, TestClient, PASSWORD};

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "cli failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is JSON alone")
}

both_backends! {
    async fn app_create_json_prints_credentials_that_work(backend) {
        let app = spawn_app(backend).await;
        let created = stdout_json(&app.cli(
            &["app", "create", "--name", "Mobile", "--client-type", "confidential",
              "--grant-types", "password,refresh_token", "--json"],
            None,
        ));
        let client = TestClient { id: text(&created, "client_id"), secret: Some(text(&created, "client_secret")) };
        assert!(client.secret.as_deref().unwrap().starts_with("pc_cs_"));
        app.create_user("ada@example.com", PASSWORD).await;
        app.sign_in(&client, "ada@example.com").await;

        let public = stdout_json(&app.cli(
            &["app", "create", "--name", "SPA", "--client-type", "public", "--grant-types", "password",
              "--redirect-uri", "http://localhost:3000/cb", "--json"],
            None,
        ));
        assert!(public.get("client_secret").is_none());

        let listed = stdout_json(&app.cli(&["app", "list", "--json"], None));
        let items = listed.as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert!(!listed.to_string().contains("pc_cs_"), "a listing shows a secret: {listed}");
        assert_eq!(items[1]["redirect_uris"][0], "http://localhost:3000/cb");
    }

    async fn app_create_sets_logout_uris_and_the_id_token_algorithm(backend) {
        let app = spawn_app(backend).await;
        let created = stdout_json(&app.cli(
            &["app", "create", "--name", "RP", "--client-type", "public", "--grant-types", "authorization_code",
              "--redirect-uri", "https://rp.example/cb",
              "--post-logout-redirect-uri", "https://rp.example/signed-out",
              "--post-logout-redirect-uri", "https://rp.example/bye?from=op,1",
              "--id-token-signed-response-alg", "EdDSA", "--json"],
            None,
        ));
        let logout = serde_json::json!(["https://rp.example/signed-out", "https://rp.example/bye?from=op,1"]);
        assert_eq!(created["post_logout_redirect_uris"], logout);
        assert_eq!(created["id_token_signed_response_alg"], "EdDSA");
        assert!(created.get("client_secret").is_none(), "a public client has no secret: {created}");
        stdout_json(&app.cli(
            &["app", "create", "--name", "Plain", "--client-type", "confidential", "--grant-types", "password", "--json"],
            None,
        ));

        let listed = stdout_json(&app.cli(&["app", "list", "--json"], None));
        let items = listed.as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["client_id"], created["client_id"]);
        assert_eq!(items[0]["post_logout_redirect_uris"], logout);
        assert_eq!(items[0]["id_token_signed_response_alg"], "EdDSA");
        assert_eq!(items[1]["post_logout_redirect_uris"], serde_json::json!([]));
        assert_eq!(items[1]["id_token_signed_response_alg"], "RS256");

        let base = ["app", "create", "--name", "Bad", "--client-type", "public", "--grant-types", "authorization_code"];
        let bad_alg = app.cli(&[&base[..], &["--id-token-signed-response-alg", "HS256"]].concat(), None);
        assert!(!bad_alg.status.success());
        let said = String::from_utf8_lossy(&bad_alg.stderr);
        assert!(said.contains("HS256") && said.contains("expected RS256 or EdDSA"), "{said}");
        let bad_uri = app.cli(&[&base[..], &["--post-logout-redirect-uri", "javascript:alert(1)//"]].concat(), None);
        assert!(!bad_uri.status.success());
        let said = String::from_utf8_lossy(&bad_uri.stderr);
        assert!(said.contains("Post-logout redirect URIs may not use the javascript scheme"), "{said}");
        let listed = stdout_json(&app.cli(&["app", "list", "--json"], None));
        assert_eq!(listed.as_array().unwrap().len(), 2, "the refused commands registered nothing");
    }

    async fn rotate_secret_replaces_the_old_secret(backend) {
        let app = spawn_app(backend).await;
        let replica = app.replica().await;
        let old = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        // Both servers have authenticated the client (and may remember it) before the
        // secret changes in another process.
        app.sign_in(&old, "ada@example.com").await;
        replica.sign_in(&old, "ada@example.com").await;
        let output = app.cli(&["app", "rotate-secret", &old.id], None);
        assert!(output.status.success());
        let printed = String::from_utf8(output.stdout).unwrap();
        let secret = printed.trim().strip_prefix("client_secret: ").expect("secret printed").to_owned();
        let new = TestClient { id: old.id.clone(), secret: Some(secret) };
        let on_app = app.token(&old).password("ada@example.com", PASSWORD).send().await;
        let on_replica = replica.token(&old).password("ada@example.com", PASSWORD).send().await;
        assert_oauth_error(on_app, 401, "invalid_client").await;
        assert_oauth_error(on_replica, 401, "invalid_client").await;
        app.sign_in(&new, "ada@example.com").await;
        replica.sign_in(&new, "ada@example.com").await;
        assert!(!app.cli(&["app", "rotate-secret", "no-such-client"], None).status.success());
    }

    async fn createsuperuser_reads_the_password_from_stdin(backend) {
        let app = spawn_app(backend).await;
        let output = app.cli(&["createsuperuser", "--email", "Root@Example.com", "--password-stdin"], Some("an admin passphrase\n"));
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let client = app.confidential_client();
        let response =
            app.token(&client).password("root@example.com", "an admin passphrase").scope("admin").send().await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scope"], "admin");

        let weak = app.cli(&["createsuperuser", "--email", "other@example.com", "--password-stdin"], Some("short\n"));
        assert!(!weak.status.success());
        assert!(String::from_utf8_lossy(&weak.stderr).contains("too short"));
    }

    async fn keys_rotate_keeps_old_tokens_valid_and_publishes_both_keys(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let before = app.sign_in(&client, "ada@example.com").await;
        let output = app.cli(&["keys", "rotate"], None);
        assert!(output.status.success());
        // The running server reloads its key set when it meets an unknown kid; the
        // database now publishes both keys, and tokens signed before keep working.
        let algorithms: Vec<String> = {
            use diesel::prelude::*;
            use portcullis::store::schema::signing_keys;
            signing_keys::table.order(signing_keys::algorithm).select(signing_keys::algorithm).load(&mut app.db()).unwrap()
        };
        assert_eq!(algorithms, ["EdDSA", "EdDSA", "RS256", "RS256"], "a new key of each kind beside the old ones");
        assert_eq!(app.user_status(&text(&before, "access_token")).await, 200);
        assert_eq!(app.token(&client).refresh(&text(&before, "refresh_token")).send().await.status(), 200);
    }
}

/// The cache's listening connection dies and a secret changes before it is back: the
/// server never accepts the old secret again (while the connection is gone the cache
/// does not answer, and it starts empty when the connection is back).
#[actix_web::test]
async fn a_lost_cache_listener_never_serves_an_old_secret() {
    let app = spawn_app(Backend::Postgres).await;
    let old = app.confidential_client();
    let seen = app.token(&old).client_credentials().send().await;
    assert_eq!(seen.status(), 200, "the cache has seen the client");

    let mut db = app.db();
    let listeners = |db: &mut DbConnection| -> Vec<i32> {
        let DbConnection::Pg(pg) = db else { unreachable!("a PostgreSQL test") };
        diesel::sql_query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'portcullis_client_cache'",
        )
        .load::<Pid>(pg)
        .unwrap()
        .into_iter()
        .map(|row| row.pid)
        .collect()
    };
    let first = listeners(&mut db);
    assert_eq!(first.len(), 1, "one server listens");
    diesel::sql_query("SELECT pg_terminate_backend($1)")
        .bind::<diesel::sql_types::Integer, _>(first[0])
        .execute(match &mut db {
            DbConnection::Pg(pg) => pg,
            DbConnection::Sqlite(_) => unreachable!(),
        })
        .unwrap();
    let secret =
        portcullis::manage::rotate_secret(&mut portcullis::db::Writer::offline(&mut db), &old.id).unwrap();
    // The server reconnects on its own (after a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while listeners(&mut db).iter().all(|pid| *pid == first[0]) {
        assert!(std::time::Instant::now() < deadline, "the cache reconnects");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    assert_oauth_error(app.token(&old).client_credentials().send().await, 401, "invalid_client").await;
    let new = TestClient { id: old.id.clone(), secret: Some(secret.expose().to_owned()) };
    assert_eq!(app.token(&new).client_credentials().send().await.status(), 200);
}

/// A listener that never acknowledges (a stuck replica): rotate-secret still completes
/// after its wait, and tells the operator.
#[actix_web::test]
async fn rotate_secret_warns_about_a_server_that_did_not_confirm() {
    let app = spawn_app(Backend::Postgres).await;
    let old = app.confidential_client();
    let _stuck = portcullis::db::listen::Listener::connect(
        &app.database_url,
        "portcullis_applications",
        "portcullis_client_cache",
    )
    .expect("listens");
    let output = app.cli(&["app", "rotate-secret", &old.id], None);
    assert!(output.status.success());
    let warning = String::from_utf8_lossy(&output.stderr);
    assert!(warning.contains("1 running server(s) did not confirm"), "{warning}");
    // The real server did confirm: the old secret is refused at once.
    assert_oauth_error(app.token(&old).client_credentials().send().await, 401, "invalid_client").await;
}

#[derive(diesel::QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// Runs the CLI on a pseudo-terminal against the test's database, answering each prompt
/// of `dialogue` in turn; returns the exit code and what the terminal showed.
fn on_a_terminal(app: &crate::helpers::TestApp, args: &[&str], dialogue: &[(&str, &str)]) -> (i32, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pty_dialogue.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("PTY_DIALOGUE", serde_json::to_string(dialogue).unwrap())
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .expect("python3 runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Asserts that `shown` has each of `texts`, in that order.
fn assert_in_order(shown: &str, texts: &[&str]) {
    let mut rest = shown;
    for text in texts {
        let at = rest.find(text).unwrap_or_else(|| panic!("{text:?} missing or out of order in:\n{shown}"));
        rest = &rest[at + text.len()..];
    }
}

both_backends! {
    async fn interactive_createsuperuser_asks_again_until_the_answers_will_do(backend) {
        let app = spawn_app(backend).await;
        app.create_user("taken@example.com", PASSWORD).await;
        let (code, shown) = on_a_terminal(&app, &["createsuperuser"], &[
            ("Email: ", "not-an-email"),
            ("Email: ", "taken@example.com"),
            ("Email: ", "root@example.com"),
            ("Username", ""),
            ("Password: ", "short"),
            ("Password (again): ", "short"),
            ("Password: ", "an admin passphrase"),
            ("Password (again): ", "another passphrase"),
            ("Password: ", "an admin passphrase"),
            ("Password (again): ", "an admin passphrase"),
        ]);
        assert_eq!(code, 0, "{shown}");
        assert_in_order(&shown, &[
            "Enter a valid email address.",
            "A user with that email already exists.",
            "too short",
            "The passwords differ.",
            "superuser root created",
        ]);
        assert!(!shown.contains("passphrase"), "a password was echoed:\n{shown}");
        let client = app.confidential_client();
        let admin = app.token(&client).password("root@example.com", "an admin passphrase").scope("admin").ok().await;
        assert_eq!(admin["scope"], "admin");
    }

    async fn createsuperuser_without_a_terminal_refuses_at_once(backend) {
        let app = spawn_app(backend).await;
        let piped = app.cli(&["createsuperuser"], Some("not-an-email\nan admin passphrase\n"));
        assert!(!piped.status.success());
        assert!(String::from_utf8_lossy(&piped.stderr).contains("Enter a valid email address."));
        let mismatched_flag = app.cli(&["createsuperuser", "--email", "nope", "--password-stdin"], Some("an admin passphrase\n"));
        assert!(!mismatched_flag.status.success());
        assert!(String::from_utf8_lossy(&mismatched_flag.stderr).contains("Enter a valid email address."));
        let ended = app.cli(&["createsuperuser"], Some(""));
        assert!(!ended.status.success());
        assert!(String::from_utf8_lossy(&ended.stderr).contains("standard input ended"));
        let users: i64 = {
            use diesel::prelude::*;
            portcullis::store::schema::users::table.count().get_result(&mut app.db()).unwrap()
        };
        assert_eq!(users, 0);
    }
}

/// `portcullis backup`: an online copy of an SQLite database that opens on its own; it
/// never overwrites a file, and a PostgreSQL database is pointed at pg_dump.
#[actix_web::test]
async fn backup_copies_an_sqlite_database_while_it_serves() {
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let client = app.confidential_client();
    app.create_user("kept@example.com", crate::helpers::PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let copy_arg = copy.to_str().unwrap();
    let output = app.cli(&["backup", "--to", copy_arg], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The server goes on while the copy is read, and the copy is a database of its own.
    assert_eq!(app.token(&client).client_credentials().send().await.status(), 200);
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["app", "list", "--json"])
        .env("DATABASE_URL", format!("sqlite://{copy_arg}"))
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert!(listed.status.success());
    let apps: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(apps[0]["client_id"], client.id.as_str());
    let again = app.cli(&["backup", "--to", copy_arg], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    let postgres = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await;
    let refused = postgres.cli(&["backup", "--to", dir.path().join("pg.db").to_str().unwrap()], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"));
}
