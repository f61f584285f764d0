//! The CLI run as a real process against the test's database.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, text, TestClient, PASSWORD};

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
        let mut params = old.body();
        params.extend([
            ("grant_type", "password".to_owned()),
            ("username", "ada@example.com".to_owned()),
            ("password", PASSWORD.to_owned()),
        ]);
        assert_oauth_error(app.post_token(&params).await, 401, "invalid_client").await;
        assert_oauth_error(replica.post_token(&params).await, 401, "invalid_client").await;
        app.sign_in(&new, "ada@example.com").await;
        replica.sign_in(&new, "ada@example.com").await;
        assert!(!app.cli(&["app", "rotate-secret", "no-such-client"], None).status.success());
    }

    async fn createsuperuser_reads_the_password_from_stdin(backend) {
        let app = spawn_app(backend).await;
        let output = app.cli(&["createsuperuser", "--email", "Root@Example.com", "--password-stdin"], Some("an admin passphrase\n"));
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let client = app.confidential_client();
        let mut params = client.body();
        params.extend([
            ("grant_type", "password".to_owned()),
            ("username", "root@example.com".to_owned()),
            ("password", "an admin passphrase".to_owned()),
            ("scope", "admin".to_owned()),
        ]);
        let response = app.post_token(&params).await;
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
        let rows = {
            use diesel::prelude::*;
            use portcullis::store::schema::signing_keys;
            signing_keys::table.count().get_result::<i64>(&mut app.db()).unwrap()
        };
        assert_eq!(rows, 2);
        assert_eq!(app.user_status(&text(&before, "access_token")).await, 200);
        assert_eq!(app.refresh(&client, &text(&before, "refresh_token")).await.status(), 200);
    }
}
