//! The janitor (SPEC §14): after a run, what expired or was revoked is gone and what lives
//! is untouched and still works; two janitors at once on PostgreSQL share the rows; every
//! server runs it on its own and reports it in /metrics.

use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use portcullis::store::schema::{
    access_tokens, audit_events, auth_attempts, authorization_codes, browser_sessions, email_tokens,
    refresh_tokens, signing_keys,
};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_with, text, Backend, TestApp, PASSWORD};

const DAY: i64 = 86_400;

/// `portcullis prune --json` against the test's database: rows deleted per table.
fn prune(app: &TestApp) -> HashMap<String, u64> {
    let output = app.cli(&["prune", "--json"], None);
    assert!(output.status.success(), "prune failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("a JSON object of counts")
}

fn count(app: &TestApp, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Count =
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result(&mut app.db()).unwrap();
    found.n
}

/// The `jti` of one of our access tokens (a JWT), read without verifying it.
fn jti(access_token: &str) -> String {
    use base64::Engine;
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap();
    claims["jti"].as_str().expect("a jti").to_owned()
}

fn family_of(app: &TestApp, access_token: &str) -> String {
    access_tokens::table
        .filter(access_tokens::jti.eq(jti(access_token)))
        .select(access_tokens::family_id)
        .first::<Option<String>>(&mut app.db())
        .unwrap()
        .expect("a family")
}

both_backends! {
    async fn a_run_removes_what_expired_or_was_revoked_and_keeps_what_lives(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("keep@example.com", PASSWORD).await;
        let now = portcullis::time::now();

        // A live family that has rotated once: its used token, its head and both access
        // records (the old one reads as revoked through its rotated refresh token) stay.
        let first = app.sign_in(&client, "keep@example.com").await;
        let live = app.token(&client).refresh(&text(&first, "refresh_token")).ok().await;
        let live_family = family_of(&app, &text(&live, "access_token"));
        // A long-lived family that has rotated twice; its first token was used and has
        // since expired (with its access record): that token goes, the rest stays.
        let long = app.sign_in(&client, "keep@example.com").await;
        let long_second = app.token(&client).refresh(&text(&long, "refresh_token")).ok().await;
        let long_head = app.token(&client).refresh(&text(&long_second, "refresh_token")).ok().await;
        let long_family = family_of(&app, &text(&long_head, "access_token"));
        let long_first_id: i64 = refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(&long_family))
            .select(refresh_tokens::id)
            .order(refresh_tokens::id)
            .first(&mut app.db())
            .unwrap();
        diesel::update(refresh_tokens::table.find(long_first_id))
            .set(refresh_tokens::expires_at.eq(now - 1))
            .execute(&mut app.db())
            .unwrap();
        diesel::update(access_tokens::table.filter(access_tokens::jti.eq(jti(&text(&long, "access_token")))))
            .set(access_tokens::expires_at.eq(now - 1))
            .execute(&mut app.db())
            .unwrap();
        // A revoked family, and a family whose head expired: gone with their access records.
        let revoked = app.sign_in(&client, "keep@example.com").await;
        let mut revoke = client.body();
        revoke.push(("token", text(&revoked, "refresh_token")));
        assert_eq!(app.post_form("/auth/revoke-token", &revoke).await.status(), 200);
        let expired = app.sign_in(&client, "keep@example.com").await;
        let expired_family = family_of(&app, &text(&expired, "access_token"));
        diesel::update(refresh_tokens::table.filter(refresh_tokens::family_id.eq(&expired_family)))
            .set(refresh_tokens::expires_at.eq(now - 1))
            .execute(&mut app.db())
            .unwrap();
        // A client_credentials token past its expiry: its record goes.
        let machine = app.token(&client).client_credentials().ok().await;
        diesel::update(access_tokens::table.filter(access_tokens::jti.eq(jti(&text(&machine, "access_token")))))
            .set(access_tokens::expires_at.eq(now - 1))
            .execute(&mut app.db())
            .unwrap();

        // The short-lived rows, one expired and one live of each.
        let user_id: i64 = {
            use portcullis::store::schema::users;
            users::table.select(users::id).first(&mut app.db()).unwrap()
        };
        let app_id: i64 = {
            use portcullis::store::schema::applications;
            applications::table.select(applications::id).first(&mut app.db()).unwrap()
        };
        let mut db = app.db();
        // Sign-up mailed a verification link: it lives, like the other live rows.
        let mail_links = count(&app, "email_tokens");
        for (suffix, expires) in [("old", now - 1), ("new", now + 600)] {
            diesel::insert_into(authorization_codes::table)
                .values((
                    authorization_codes::code_hash.eq(format!("code-{suffix}")),
                    authorization_codes::application_id.eq(app_id),
                    authorization_codes::user_id.eq(user_id),
                    authorization_codes::redirect_uri.eq("http://localhost:3000/callback"),
                    authorization_codes::scope.eq("read"),
                    authorization_codes::created_at.eq(now - 60),
                    authorization_codes::expires_at.eq(expires),
                ))
                .execute(&mut db)
                .unwrap();
            diesel::insert_into(browser_sessions::table)
                .values((
                    browser_sessions::token_hash.eq(format!("session-{suffix}")),
                    browser_sessions::user_id.eq(user_id),
                    browser_sessions::created_at.eq(now - 60),
                    browser_sessions::expires_at.eq(expires),
                ))
                .execute(&mut db)
                .unwrap();
            diesel::insert_into(email_tokens::table)
                .values((
                    email_tokens::purpose.eq("verification"),
                    email_tokens::token_hash.eq(format!("mail-{suffix}")),
                    email_tokens::user_id.eq(user_id),
                    email_tokens::email.eq("keep@example.com"),
                    email_tokens::created_at.eq(now - 60),
                    email_tokens::expires_at.eq(expires),
                ))
                .execute(&mut db)
                .unwrap();
        }
        // Audit events past the retention (365 days) and counters past every window.
        let audit_before = count(&app, "audit_events");
        diesel::insert_into(audit_events::table)
            .values((audit_events::created_at.eq(now - 400 * DAY), audit_events::action.eq("ancient")))
            .execute(&mut db)
            .unwrap();
        let attempts_before = count(&app, "auth_attempts");
        for at in [now - 2 * DAY, now - 60] {
            diesel::insert_into(auth_attempts::table)
                .values((auth_attempts::kind.eq("login_address"), auth_attempts::subject.eq("203.0.113.9"), auth_attempts::created_at.eq(at)))
                .execute(&mut db)
                .unwrap();
        }
        // A key retired and no longer published, beside the signing ones.
        let keys_before = count(&app, "signing_keys");
        diesel::insert_into(signing_keys::table)
            .values((
                signing_keys::kid.eq("retired"),
                signing_keys::algorithm.eq("EdDSA"),
                signing_keys::private_key.eq("x"),
                signing_keys::public_key.eq("x"),
                signing_keys::created_at.eq(now - 90 * DAY),
                signing_keys::retired_at.eq(now - 60 * DAY),
                signing_keys::publish_until.eq(now - 59 * DAY),
            ))
            .execute(&mut db)
            .unwrap();

        let refresh_rows = count(&app, "refresh_tokens");
        let access_rows = count(&app, "access_tokens");
        let deleted = prune(&app);
        assert_eq!(
            deleted["refresh_tokens"], 3,
            "the revoked and the expired family, the long family's expired used token: {deleted:?}"
        );
        assert_eq!(
            deleted["access_tokens"], 4,
            "their two records, the expired machine token, the long family's first: {deleted:?}"
        );
        for table in ["authorization_codes", "browser_sessions", "email_tokens", "audit_events", "auth_attempts", "signing_keys"] {
            assert_eq!(deleted[table], 1, "{table}: {deleted:?}");
        }
        assert_eq!(count(&app, "refresh_tokens"), refresh_rows - 3);
        assert_eq!(count(&app, "access_tokens"), access_rows - 4);
        assert_eq!(count(&app, "audit_events"), audit_before);
        assert_eq!(count(&app, "auth_attempts"), attempts_before + 1);
        assert_eq!(count(&app, "signing_keys"), keys_before);
        assert_eq!(count(&app, "email_tokens"), mail_links + 1, "the live links stay");
        for table in ["authorization_codes", "browser_sessions"] {
            assert_eq!(count(&app, table), 1, "{table}: the live row stays");
        }
        let live_rows: i64 = refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(&live_family))
            .count()
            .get_result(&mut app.db())
            .unwrap();
        assert_eq!(live_rows, 2, "the live family keeps its used token, so a replay is still caught");
        let long_rows: Vec<i64> = refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(&long_family))
            .select(refresh_tokens::id)
            .load(&mut app.db())
            .unwrap();
        assert_eq!(long_rows.len(), 2, "only the expired used token left the long family");
        assert!(!long_rows.contains(&long_first_id));
        assert_eq!(app.user_status(&text(&long_second, "access_token")).await, 401, "still revoked by its rotation");
        let continued = app.token(&client).refresh(&text(&long_head, "refresh_token")).ok().await;
        assert_eq!(app.user_status(&text(&continued, "access_token")).await, 200);

        // What lives still works, and what was revoked is still refused.
        assert_eq!(app.user_status(&text(&live, "access_token")).await, 200);
        assert_eq!(app.user_status(&text(&first, "access_token")).await, 401);
        assert_eq!(app.user_status(&text(&revoked, "access_token")).await, 401);
        let replay = app.token(&client).refresh(&text(&first, "refresh_token")).send().await;
        assert_eq!(replay.status(), 400, "a replay of the live family's used token is still theft");
        let burned = prune(&app);
        assert_eq!((burned["refresh_tokens"], burned["access_tokens"]), (2, 2), "the burned family goes next: {burned:?}");
        assert_eq!(app.user_status(&text(&live, "access_token")).await, 401);
    }

    async fn every_server_runs_the_janitor_and_reports_it(backend) {
        let app = spawn_app_with(backend, |raw| {
            raw.set("PORTCULLIS_JANITOR_INTERVAL", "1");
        })
        .await;
        let user_id = app.create_user("gone@example.com", PASSWORD).await;
        let now = portcullis::time::now();
        diesel::insert_into(browser_sessions::table)
            .values((
                browser_sessions::token_hash.eq("expired-session"),
                browser_sessions::user_id.eq(user_id),
                browser_sessions::created_at.eq(now - 7200),
                browser_sessions::expires_at.eq(now - 3600),
            ))
            .execute(&mut app.db())
            .unwrap();
        // The server's own janitor (every second here) deletes it and says so in /metrics.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let metrics = loop {
            let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
            if metrics.contains("portcullis_janitor_deleted_rows_total{table=\"browser_sessions\"} 1") {
                break metrics;
            }
            assert!(std::time::Instant::now() < deadline, "the janitor did not delete the session:\n{metrics}");
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(count(&app, "browser_sessions"), 0);
        let last_run = metrics
            .lines()
            .find_map(|line| line.strip_prefix("portcullis_janitor_last_run_timestamp_seconds "))
            .and_then(|value| value.trim().parse::<i64>().ok())
            .expect("the last run's time");
        assert!(last_run >= now, "{metrics}");
        assert!(metrics.contains("portcullis_table_rows{table=\"access_tokens\"}"), "{metrics}");
        assert!(metrics.contains("portcullis_table_rows{table=\"audit_events\"}"), "{metrics}");
    }
}

/// Two janitors at once on one PostgreSQL database: each row is deleted once, neither fails.
#[actix_web::test]
async fn two_janitors_at_once_share_the_rows() {
    let app = spawn_app(Backend::Postgres).await;
    let client = app.confidential_client();
    app.create_user("many@example.com", PASSWORD).await;
    app.sign_in(&client, "many@example.com").await;
    let now = portcullis::time::now();
    app.db()
        .batch_execute(&format!(
            "INSERT INTO access_tokens (jti, application_id, scope, created_at, expires_at) \
             SELECT 'expired-' || n, (SELECT MIN(id) FROM applications), 'read', {now} - 7200, {now} - 3600 \
             FROM generate_series(1, 20000) AS n"
        ))
        .unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["prune", "--json"])
            .env("DATABASE_URL", &app.database_url)
            .env_remove("PORTCULLIS_CONFIG")
            .output()
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(run);
        let b = scope.spawn(run);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let deleted = |output: &std::process::Output| -> u64 {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let counts: HashMap<String, u64> = serde_json::from_slice(&output.stdout).unwrap();
        counts.get("access_tokens").copied().unwrap_or(0)
    };
    assert_eq!(deleted(&a) + deleted(&b), 20_000, "every expired row deleted exactly once");
    assert_eq!(count(&app, "access_tokens"), 1, "the live token's record stays");
}
