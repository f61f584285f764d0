//! Keys sealed under the operator's `PORTCULLIS_SECRET_KEY` (SPEC §14): not readable in the
//! database, a server with the wrong secret (or none) refuses to start, and
//! `portcullis keys reseal` moves the keys and provider refresh tokens to a new secret.

use std::process::{Command, Output};

use diesel::prelude::*;
use portcullis::store::schema::{server_secrets, signing_keys, social_accounts};
use portcullis::tokens::sealed;
use secrecy::SecretString;

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_with, text, TestApp, PASSWORD};

const FIRST: &str = "the operator's first secret, 32 chars or more";
const SECOND: &str = "the operator's second secret, also long enough";

/// The binary with `env`, against the test's database.
fn portcullis(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("PORTCULLIS_BIND", "127.0.0.1:0")
        .env("PORTCULLIS_JANITOR_INTERVAL", "0")
        .env_remove("PORTCULLIS_CONFIG")
        .env_remove("PORTCULLIS_SECRET_KEY")
        .env_remove("PORTCULLIS_OLD_SECRET_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("portcullis runs")
}

/// `portcullis serve` that must refuse to start; what it said.
fn refused_start(app: &TestApp, secret: Option<&str>) -> String {
    let env: Vec<(&str, &str)> = secret.map(|s| ("PORTCULLIS_SECRET_KEY", s)).into_iter().collect();
    let output = portcullis(app, &["serve"], &env);
    assert!(!output.status.success(), "a server started on keys it cannot open");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const GOOGLE_REFRESH: &str = "1//google-refresh";

/// A Google link for `user` whose provider refresh token is sealed under `secret`.
fn link_google(app: &TestApp, user: i64, secret: &SecretString) {
    let context = sealed::link_context("google-oauth2", "g-linked");
    diesel::insert_into(social_accounts::table)
        .values((
            social_accounts::user_id.eq(user),
            social_accounts::provider.eq("google-oauth2"),
            social_accounts::uid.eq("g-linked"),
            social_accounts::created_at.eq(0),
            social_accounts::provider_refresh_token.eq(sealed::seal(secret, &context, GOOGLE_REFRESH)),
        ))
        .execute(&mut app.db())
        .unwrap();
}

/// The link's provider refresh token, if it opens under `secret`.
fn provider_token(app: &TestApp, secret: &str) -> Option<String> {
    let token: String = social_accounts::table
        .select(social_accounts::provider_refresh_token.assume_not_null())
        .first(&mut app.db())
        .unwrap();
    sealed::open(&SecretString::from(secret), &sealed::link_context("google-oauth2", "g-linked"), &token)
}

/// The secret a deployment without an operator's one generated at its first start.
fn generated_secret(app: &TestApp) -> SecretString {
    let value: String = server_secrets::table
        .filter(server_secrets::name.eq("secret_key"))
        .select(server_secrets::value)
        .first(&mut app.db())
        .unwrap();
    SecretString::from(value)
}

fn stored_keys(app: &TestApp) -> Vec<(String, String)> {
    signing_keys::table.select((signing_keys::kid, signing_keys::private_key)).load(&mut app.db()).unwrap()
}

both_backends! {
    async fn an_operator_secret_seals_the_keys_and_only_it_starts_a_server(backend) {
        let app = spawn_app_with(backend, |raw| {
            raw.set("PORTCULLIS_SECRET_KEY", FIRST);
        })
        .await;
        let client = app.confidential_client();
        app.create_user("sealed@example.com", PASSWORD).await;
        let tokens = app.sign_in(&client, "sealed@example.com").await;
        assert_eq!(app.user_status(&text(&tokens, "access_token")).await, 200);

        let keys = stored_keys(&app);
        assert_eq!(keys.len(), 2);
        for (kid, stored) in &keys {
            assert!(sealed::is_sealed(stored), "{kid} is stored in clear");
            let context = format!("signing-key\n{kid}");
            assert!(sealed::open(&SecretString::from(FIRST), &context, stored).is_some(), "sealed under the secret");
            assert!(sealed::open(&SecretString::from(SECOND), &context, stored).is_none());
        }
        // The file itself holds no private key: PKCS#8 in base64 starts "MC4C" (Ed25519)
        // or "MIIE" (RSA 2048).
        if let Some(path) = app.database_url.strip_prefix("sqlite://") {
            // The file and its write-ahead log, where recent pages may still be.
            let mut bytes = std::fs::read(path).unwrap();
            bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("MC4CAQAw") && !text.contains("MIIE"), "a private key in clear in the file");
        }

        let wrong = refused_start(&app, Some(SECOND));
        assert!(wrong.contains("PORTCULLIS_SECRET_KEY") && wrong.contains("not the one"), "{wrong}");
        let none = refused_start(&app, None);
        assert!(none.contains("PORTCULLIS_SECRET_KEY is not set"), "{none}");
        let short = portcullis(&app, &["serve"], &[("PORTCULLIS_SECRET_KEY", "too short")]);
        assert!(String::from_utf8_lossy(&short.stderr).contains("at least 32 characters"));
    }

    async fn keys_reseal_moves_keys_and_provider_tokens_to_a_new_secret(backend) {
        let app = spawn_app_with(backend, |raw| {
            raw.set("PORTCULLIS_SECRET_KEY", FIRST);
        })
        .await;
        let client = app.confidential_client();
        let user = app.create_user("moved@example.com", PASSWORD).await;
        let tokens = app.sign_in(&client, "moved@example.com").await;
        link_google(&app, user, &SecretString::from(FIRST));

        let without_old = portcullis(&app, &["keys", "reseal"], &[("PORTCULLIS_SECRET_KEY", SECOND)]);
        assert!(!without_old.status.success(), "the keys do not open without the old secret");
        let before = stored_keys(&app);
        let moved = portcullis(
            &app,
            &["keys", "reseal"],
            &[("PORTCULLIS_SECRET_KEY", SECOND), ("PORTCULLIS_OLD_SECRET_KEY", FIRST)],
        );
        assert!(moved.status.success(), "{}", String::from_utf8_lossy(&moved.stderr));
        assert!(String::from_utf8_lossy(&moved.stdout).contains("sealed 2 signing keys and 1 provider refresh tokens"));
        assert_ne!(before, stored_keys(&app));

        assert_eq!(provider_token(&app, SECOND).as_deref(), Some(GOOGLE_REFRESH));
        let old = refused_start(&app, Some(FIRST));
        assert!(old.contains("not the one"), "{old}");
        // A server with the new secret verifies what was signed before the change.
        let replica = app
            .replica_with(|raw| {
                raw.set("PORTCULLIS_SECRET_KEY", SECOND);
            })
            .await;
        assert_eq!(replica.user_status(&text(&tokens, "access_token")).await, 200);
    }

    async fn the_first_start_with_an_operator_secret_seals_keys_and_moves_provider_tokens(backend) {
        // A deployment that ran without a secret of its own: keys in clear, provider
        // tokens under the generated secret.
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let user = app.create_user("first@example.com", PASSWORD).await;
        let tokens = app.sign_in(&client, "first@example.com").await;
        assert!(stored_keys(&app).iter().all(|(_, key)| !sealed::is_sealed(key)));
        link_google(&app, user, &generated_secret(&app));

        let sealing = app
            .replica_with(|raw| {
                raw.set("PORTCULLIS_SECRET_KEY", FIRST);
            })
            .await;
        for (kid, stored) in stored_keys(&app) {
            let opened = sealed::open(&SecretString::from(FIRST), &format!("signing-key\n{kid}"), &stored);
            assert!(opened.is_some(), "{kid} is not sealed under the operator's secret");
        }
        assert_eq!(provider_token(&app, FIRST).as_deref(), Some(GOOGLE_REFRESH), "the provider token stayed behind");
        assert_eq!(sealing.user_status(&text(&tokens, "access_token")).await, 200);

        // Sealed once: the next start with the secret rewrites nothing, one without it stops.
        let before = stored_keys(&app);
        let again = app
            .replica_with(|raw| {
                raw.set("PORTCULLIS_SECRET_KEY", FIRST);
            })
            .await;
        assert_eq!(again.user_status(&text(&tokens, "access_token")).await, 200);
        assert_eq!(before, stored_keys(&app));
        assert!(refused_start(&app, None).contains("PORTCULLIS_SECRET_KEY is not set"));
    }

    async fn keys_reseal_without_an_old_secret_moves_off_the_generated_one(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let user = app.create_user("generated@example.com", PASSWORD).await;
        let tokens = app.sign_in(&client, "generated@example.com").await;
        link_google(&app, user, &generated_secret(&app));

        let moved = portcullis(&app, &["keys", "reseal"], &[("PORTCULLIS_SECRET_KEY", SECOND)]);
        assert!(moved.status.success(), "{}", String::from_utf8_lossy(&moved.stderr));
        assert!(String::from_utf8_lossy(&moved.stdout).contains("sealed 2 signing keys and 1 provider refresh tokens"));
        assert!(stored_keys(&app).iter().all(|(_, key)| sealed::is_sealed(key)));
        assert_eq!(provider_token(&app, SECOND).as_deref(), Some(GOOGLE_REFRESH));
        let replica = app
            .replica_with(|raw| {
                raw.set("PORTCULLIS_SECRET_KEY", SECOND);
            })
            .await;
        assert_eq!(replica.user_status(&text(&tokens, "access_token")).await, 200);
    }

    async fn the_lost_secret_procedure_keeps_users_and_refresh_tokens(backend) {
        let app = spawn_app_with(backend, |raw| {
            raw.set("PORTCULLIS_SECRET_KEY", FIRST);
        })
        .await;
        let client = app.confidential_client();
        let user = app.create_user("lost@example.com", PASSWORD).await;
        let tokens = app.sign_in(&client, "lost@example.com").await;
        link_google(&app, user, &SecretString::from(FIRST));
        let old_kids: Vec<String> = stored_keys(&app).into_iter().map(|(kid, _)| kid).collect();

        // docs/OPERATIONS.md, "the secret is lost for good", with the servers stopped.
        let mut db = app.db();
        diesel::delete(signing_keys::table).execute(&mut db).unwrap();
        diesel::update(social_accounts::table)
            .set(social_accounts::provider_refresh_token.eq(None::<String>))
            .execute(&mut db)
            .unwrap();
        let recovered = app
            .replica_with(|raw| {
                raw.set("PORTCULLIS_SECRET_KEY", SECOND);
            })
            .await;

        let new_keys = stored_keys(&app);
        assert_eq!(new_keys.len(), 2);
        assert!(new_keys.iter().all(|(kid, key)| !old_kids.contains(kid) && sealed::is_sealed(key)));
        assert_eq!(recovered.user_status(&text(&tokens, "access_token")).await, 401, "signed by a key that is gone");
        let refreshed = recovered.token(&client).refresh(&text(&tokens, "refresh_token")).ok().await;
        assert_eq!(recovered.user_status(&text(&refreshed, "access_token")).await, 200);
        let again = recovered.sign_in(&client, "lost@example.com").await;
        assert_eq!(recovered.user_status(&text(&again, "access_token")).await, 200);
    }
}
