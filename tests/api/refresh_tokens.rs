//! Refresh-token rotation, reuse detection and races.

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, RunQueryDsl};
use portcullis::domain::{ClientType, GrantType};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, spawn_app_with, text, Backend, TestApp, PASSWORD};

both_backends! {
    async fn refresh_rotates_the_pair_and_kills_the_old_token(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let first = app.sign_in(&client, "ada@example.com").await;

        let response = app.token(&client).refresh(&text(&first, "refresh_token")).send().await;

        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let second: Value = response.json().await.unwrap();
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_ne!(second["access_token"], first["access_token"]);
        assert_eq!(second["scope"], "read write");
        assert_eq!(app.user_status(&text(&second, "access_token")).await, 200);
        let third = app.token(&client).refresh(&text(&second, "refresh_token")).send().await;
        assert_eq!(third.status(), 200);
    }

    async fn a_refresh_revokes_the_access_token_issued_with_the_old_refresh_token(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let first = app.sign_in(&client, "ada@example.com").await;
        let other = app.sign_in(&client, "ada@example.com").await;
        let old_access = text(&first, "access_token");
        assert_eq!(app.user_status(&old_access).await, 200);

        let second = app.token(&client).refresh(&text(&first, "refresh_token")).ok().await;

        let refused = app.get_user(&old_access).await;
        let body = assert_oauth_error(refused, 401, "invalid_token").await;
        assert!(text(&body, "error_description").contains("revoked"), "{body}");
        assert_eq!(app.introspect(&client, &old_access).await["active"], false);
        let new_access = text(&second, "access_token");
        assert_eq!(app.user_status(&new_access).await, 200);
        assert_eq!(app.introspect(&client, &new_access).await["active"], true);
        // Another sign-in of the same user keeps its access token.
        assert_eq!(app.user_status(&text(&other, "access_token")).await, 200);
        // The next rotation moves the revocation along the family.
        let third = app.token(&client).refresh(&text(&second, "refresh_token")).ok().await;
        assert_eq!(app.user_status(&new_access).await, 401);
        assert_eq!(app.user_status(&text(&third, "access_token")).await, 200);
    }

    async fn refresh_tokens_are_stored_by_selector_and_hash_and_older_keys_still_rotate(backend) {
        use portcullis::tokens::random::sha256_hex;
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let token = text(&app.sign_in(&client, "ada@example.com").await, "refresh_token");
        let (selector, secret) = token.strip_prefix("pc_rt_").unwrap().split_once('_').unwrap();
        let stored = stored_keys(&app);
        assert_eq!(stored, vec![format!("{selector}.{}", sha256_hex(&token))]);
        assert!(!stored[0].contains(secret));

        // A token issued before selectors existed is stored under its bare hash.
        let older = "pc_rt_Zm9yZXZlci15b3VuZy10b2tlbi1mcm9tLWJlZm9yZS1zZWxlY3RvcnM";
        diesel::sql_query(format!("UPDATE refresh_tokens SET token_hash = '{}'", sha256_hex(older)))
            .execute(&mut app.db())
            .unwrap();
        let rotated = app.token(&client).refresh(older).send().await;
        assert_eq!(rotated.status(), 200);
        let newer = text(&rotated.json().await.unwrap(), "refresh_token");
        assert!(stored_keys(&app).contains(&portcullis::tokens::random::refresh_token_key(&newer).as_str().to_owned()));
        let gone = app.token(&client).refresh(&token).send().await;
        assert_oauth_error(gone, 400, "invalid_grant").await;
    }

    async fn replayed_refresh_token_revokes_its_family(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let first = app.sign_in(&client, "ada@example.com").await;
        let second = app.token(&client).refresh(&text(&first, "refresh_token")).ok().await;
        // A second, unrelated sign-in of the same user must survive the burn.
        let other = app.sign_in(&client, "ada@example.com").await;

        let replay = app.token(&client).refresh(&text(&first, "refresh_token")).send().await;

        let body = assert_oauth_error(replay, 400, "invalid_grant").await;
        assert!(text(&body, "error_description").contains("revoked"));
        let burned = app.token(&client).refresh(&text(&second, "refresh_token")).send().await;
        assert_oauth_error(burned, 400, "invalid_grant").await;
        assert_eq!(app.user_status(&text(&second, "access_token")).await, 401);
        assert_eq!(app.user_status(&text(&first, "access_token")).await, 401);
        assert_eq!(app.user_status(&text(&other, "access_token")).await, 200);
        assert_eq!(app.token(&client).refresh(&text(&other, "refresh_token")).send().await.status(), 200);
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.lines().any(|l| l == "portcullis_refresh_reuse_detected_total 1"), "{metrics}");
    }

    async fn sixteen_concurrent_refreshes_of_one_token_have_exactly_one_winner(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let first = app.sign_in(&client, "ada@example.com").await;
        let token = text(&first, "refresh_token");

        let attempts = (0..16).map(|_| app.token(&client).refresh(&token).send());
        let responses = futures::future::join_all(attempts).await;

        let mut ok = 0;
        for response in responses {
            match response.status().as_u16() {
                200 => ok += 1,
                400 => {
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["error"], "invalid_grant");
                }
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(ok, 1);
    }

    async fn refresh_token_of_another_client_is_refused(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let other = app.create_client(ClientType::Public, &[GrantType::RefreshToken]);
        app.create_user("ada@example.com", PASSWORD).await;
        let tokens = app.sign_in(&client, "ada@example.com").await;

        let stolen = app.token(&other).refresh(&text(&tokens, "refresh_token")).send().await;

        assert_oauth_error(stolen, 400, "invalid_grant").await;
        // The rightful client can still use it.
        assert_eq!(app.token(&client).refresh(&text(&tokens, "refresh_token")).send().await.status(), 200);
    }

    async fn refresh_may_narrow_the_scope_but_never_widen_it(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let tokens = app.sign_in(&client, "ada@example.com").await;
        let refresh_token = text(&tokens, "refresh_token");

        let wider = app.token(&client).refresh(&refresh_token).scope("read admin").send().await;
        assert_oauth_error(wider, 400, "invalid_scope").await;

        let narrowed: Value =
            app.token(&client).refresh(&refresh_token).scope("read").send().await.json().await.unwrap();
        assert_eq!(narrowed["scope"], "read");

        let widened_again =
            app.token(&client).refresh(&text(&narrowed, "refresh_token")).scope("write").send().await;
        assert_oauth_error(widened_again, 400, "invalid_scope").await;
    }

    async fn grace_period_refuses_the_previous_token_without_burning(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_REFRESH_REUSE_GRACE", "30");
        })
        .await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let first = app.sign_in(&client, "ada@example.com").await;
        let second = app.token(&client).refresh(&text(&first, "refresh_token")).ok().await;

        let previous = app.token(&client).refresh(&text(&first, "refresh_token")).send().await;

        assert_oauth_error(previous, 400, "invalid_grant").await;
        assert_eq!(app.user_status(&text(&second, "access_token")).await, 200);
        assert_eq!(app.token(&client).refresh(&text(&second, "refresh_token")).send().await.status(), 200);
    }

    async fn garbage_refresh_token_is_invalid_grant(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();

        let response = app.token(&client).refresh("pc_rt_not-a-token").send().await;

        assert_oauth_error(response, 400, "invalid_grant").await;
    }
}

/// Plays a rotation of the app's only refresh token by hand (claim and child, not yet
/// committed), starts `request`, commits the rotation once the request is seen waiting
/// for its lock, and returns the request's response and the refresh tokens still live
/// afterwards.
async fn during_a_rotation(
    app: &TestApp,
    request: impl std::future::Future<Output = reqwest::Response>,
) -> (reqwest::Response, Vec<String>) {
    let mut rotation = PgConnection::establish(&app.database_url).unwrap();
    rotation
        .batch_execute(
            "BEGIN; \
             UPDATE refresh_tokens SET used_at = created_at; \
             INSERT INTO refresh_tokens (token_hash, family_id, parent_id, user_id, application_id, \
                 scope, created_at, expires_at) \
             SELECT 'child', family_id, id, user_id, application_id, scope, created_at, expires_at \
             FROM refresh_tokens",
        )
        .unwrap();
    let mut watcher = PgConnection::establish(&app.database_url).unwrap();
    let commit_once_waited_for = async {
        loop {
            let waiting: i64 = diesel::select(sql::<BigInt>(
                "(SELECT count(*) FROM pg_stat_activity \
                  WHERE datname = current_database() AND wait_event_type = 'Lock')",
            ))
            .get_result(&mut watcher)
            .unwrap();
            if waiting > 0 {
                break;
            }
            actix_web::rt::task::yield_now().await;
        }
        rotation.batch_execute("COMMIT").unwrap();
    };
    let (response, ()) = futures::join!(request, commit_once_waited_for);
    let live = diesel::sql_query("SELECT token_hash FROM refresh_tokens WHERE revoked_at IS NULL")
        .load::<TokenHash>(&mut watcher)
        .unwrap()
        .into_iter()
        .map(|row| row.token_hash)
        .collect();
    (response, live)
}

/// A refresh that began before a concurrent rotation of the same token committed, and
/// waited for it, lost a race: it is refused, and the winner's new token lives on.
#[actix_web::test]
async fn a_refresh_waiting_for_a_concurrent_rotation_loses_without_burning_the_family() {
    let app = spawn_app(Backend::Postgres).await;
    let client = app.confidential_client();
    app.create_user("ada@example.com", PASSWORD).await;
    let first = app.sign_in(&client, "ada@example.com").await;
    let (response, live) =
        during_a_rotation(&app, app.token(&client).refresh(&text(&first, "refresh_token")).send()).await;
    let body = assert_oauth_error(response, 400, "invalid_grant").await;
    assert!(text(&body, "error_description").contains("concurrent"), "{body}");
    assert_eq!(live.len(), 2, "nothing was revoked: {live:?}");
    assert!(live.contains(&"child".to_owned()), "the winner's token lives on");
}

/// PostgreSQL gives each statement the rows committed when it began (READ COMMITTED).
/// A revocation that waits for a rotation's lock on the family's newest token must
/// still revoke the child that rotation commits.
#[actix_web::test]
async fn a_rotation_committing_during_a_family_revocation_is_revoked_too() {
    let app = spawn_app(Backend::Postgres).await;
    let client = app.confidential_client();
    app.create_user("ada@example.com", PASSWORD).await;
    let first = app.sign_in(&client, "ada@example.com").await;
    let mut params = client.body();
    params.push(("token", text(&first, "refresh_token")));
    let (response, live) = during_a_rotation(&app, app.post_form("/auth/revoke-token", &params)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(live, Vec::<String>::new(), "every token of the family is revoked, the late child too");
}

/// The same race against ending every session of a user at one application.
#[actix_web::test]
async fn a_rotation_committing_during_invalidate_sessions_is_revoked_too() {
    let app = spawn_app(Backend::Postgres).await;
    let client = app.confidential_client();
    app.create_user("ada@example.com", PASSWORD).await;
    let first = app.sign_in(&client, "ada@example.com").await;
    let request = app
        .http
        .post(app.url("/auth/invalidate-sessions"))
        .bearer_auth(text(&first, "access_token"))
        .json(&serde_json::json!({ "client_id": client.id }))
        .send();
    let (response, live) = during_a_rotation(&app, async { request.await.unwrap() }).await;
    assert_eq!(response.status(), 204);
    assert_eq!(live, Vec::<String>::new(), "the sign-in is over, the late child too");
}

/// The races above are decided for READ COMMITTED; a database whose default isolation
/// is stricter still gets it on our connections.
#[actix_web::test]
async fn connections_use_read_committed_whatever_the_database_default() {
    let app = spawn_app(Backend::Postgres).await;
    let name = crate::helpers::database_name(&app.database_url).to_owned();
    let mut admin = PgConnection::establish(&app.database_url).unwrap();
    admin
        .batch_execute(&format!("ALTER DATABASE {name} SET default_transaction_isolation = 'serializable'"))
        .unwrap();
    let mut plain = PgConnection::establish(&app.database_url).unwrap();
    let isolation = |conn: &mut PgConnection| -> String {
        diesel::select(sql::<diesel::sql_types::Text>("current_setting('transaction_isolation')"))
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(isolation(&mut plain), "serializable", "the database's default took effect");
    let portcullis::db::DbConnection::Pg(mut ours) = app.db() else { unreachable!("a PostgreSQL test") };
    assert_eq!(isolation(&mut ours), "read committed");
}

fn stored_keys(app: &TestApp) -> Vec<String> {
    diesel::sql_query("SELECT token_hash FROM refresh_tokens ORDER BY id")
        .load::<TokenHash>(&mut app.db())
        .unwrap()
        .into_iter()
        .map(|row| row.token_hash)
        .collect()
}

#[derive(diesel::QueryableByName)]
struct TokenHash {
    #[diesel(sql_type = diesel::sql_types::Text)]
    token_hash: String,
}
