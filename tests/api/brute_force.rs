//! Failed sign-ins are counted per account and per address; past the limit, 429.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{spawn_app, spawn_app_with, TestApp, TestClient, PASSWORD};

async fn attempt(app: &TestApp, client: &TestClient, username: &str, password: &str) -> reqwest::Response {
    app.token(client).password(username, password).send().await
}

async fn assert_throttled(response: reqwest::Response) {
    assert_eq!(response.status(), 429);
    let retry: i64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900, "Retry-After {retry}");
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string());
}

both_backends! {
    async fn ten_wrong_passwords_lock_the_account_even_for_the_right_one(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        app.create_user("grace@example.com", PASSWORD).await;
        for _ in 0..10 {
            assert_eq!(attempt(&app, &client, "ada@example.com", "wrong password").await.status(), 400);
        }
        assert_throttled(attempt(&app, &client, "ADA@example.com", PASSWORD).await).await;
        // Another account from the same address is not locked.
        assert_eq!(attempt(&app, &client, "grace@example.com", PASSWORD).await.status(), 200);
    }

    async fn a_successful_sign_in_resets_the_account_count(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        for _ in 0..9 {
            assert_eq!(attempt(&app, &client, "ada@example.com", "wrong password").await.status(), 400);
        }
        assert_eq!(attempt(&app, &client, "ada@example.com", PASSWORD).await.status(), 200);
        for _ in 0..9 {
            assert_eq!(attempt(&app, &client, "ada@example.com", "wrong password").await.status(), 400);
        }
        assert_eq!(attempt(&app, &client, "ada@example.com", PASSWORD).await.status(), 200);
    }

    async fn the_address_limit_spans_accounts(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_THROTTLE_ADDRESS_FAILURES", "3");
        })
        .await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        for user in ["x@example.com", "y@example.com", "z@example.com"] {
            assert_eq!(attempt(&app, &client, user, "wrong password").await.status(), 400);
        }
        assert_throttled(attempt(&app, &client, "ada@example.com", PASSWORD).await).await;
    }

    async fn registrations_are_throttled_per_address(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_THROTTLE_REGISTRATIONS", "2");
        })
        .await;
        app.create_user("a@example.com", PASSWORD).await;
        app.create_user("b@example.com", PASSWORD).await;
        let response = app
            .http
            .post(app.url("/auth/register"))
            .json(&serde_json::json!({ "email": "c@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_throttled(response).await;
    }

    async fn parallel_guesses_get_no_more_tries_than_the_limit(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_THROTTLE_ACCOUNT_FAILURES", "3");
        })
        .await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let guesses = (0..12).map(|i| attempt(&app, &client, "ada@example.com", if i == 11 { PASSWORD } else { "wrong" }));
        let statuses: Vec<u16> =
            futures::future::join_all(guesses).await.iter().map(|r| r.status().as_u16()).collect();
        let judged = statuses.iter().filter(|s| **s != 429).count();
        assert!(judged <= 3, "only 3 of 12 parallel guesses may reach the password check: {statuses:?}");
        assert!(statuses.iter().all(|s| [200, 400, 429].contains(s)), "{statuses:?}");
    }

    async fn many_parallel_correct_sign_ins_of_one_account_all_succeed(backend) {
        // Attempts in flight count, but a server has at most two per core in flight (its
        // hash turns): a limit above that never refuses correct sign-ins, however many
        // arrive at once.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let limit = 2 * cores + 1;
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_THROTTLE_ACCOUNT_FAILURES", limit.to_string());
        })
        .await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let sign_ins = (0..3 * limit).map(|_| attempt(&app, &client, "ada@example.com", PASSWORD));
        let statuses: Vec<u16> =
            futures::future::join_all(sign_ins).await.iter().map(|r| r.status().as_u16()).collect();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }

    async fn a_login_spelled_like_an_internal_key_locks_nobody_out(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let id = app.create_user("ada@example.com", PASSWORD).await;
        for _ in 0..10 {
            assert_eq!(attempt(&app, &client, &format!("user:{id}"), "wrong password").await.status(), 400);
        }
        assert_eq!(attempt(&app, &client, "ada@example.com", PASSWORD).await.status(), 200);
    }

    // The attempt is counted under its login in a B-tree index, which PostgreSQL refuses
    // entries of over ~2.7 KB; the text is varied so that compression cannot shrink it.
    async fn a_login_longer_than_any_account_is_a_plain_wrong_login(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let long: String = (0..8000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(state % 36) as usize])
            })
            .collect();
        for _ in 0..2 {
            let refused = attempt(&app, &client, &long, "wrong password").await;
            assert_eq!(refused.status(), 400);
            assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_grant");
        }
    }

    async fn a_right_password_refused_for_its_scope_is_not_a_guess(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_THROTTLE_ACCOUNT_FAILURES", "3");
        })
        .await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        for _ in 0..5 {
            let admin = app.token(&client).password("ada@example.com", PASSWORD).scope("admin");
            assert_eq!(admin.send().await.status(), 400);
        }
        assert_eq!(attempt(&app, &client, "ada@example.com", PASSWORD).await.status(), 200);
    }

    async fn guessing_the_old_password_of_a_password_change_is_throttled(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_THROTTLE_ACCOUNT_FAILURES", "3");
        })
        .await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let body: Value = attempt(&app, &client, "ada@example.com", PASSWORD).await.json().await.unwrap();
        let access = body["access_token"].as_str().unwrap().to_owned();
        let change = |old: &'static str| {
            app.http
                .post(app.url("/auth/password"))
                .bearer_auth(&access)
                .json(&serde_json::json!({ "old_password": old, "new_password": "a brand new passphrase" }))
                .send()
        };
        for _ in 0..3 {
            assert_eq!(change("not the old one").await.unwrap().status(), 400);
        }
        assert_throttled(change(PASSWORD).await.unwrap()).await;
    }

    async fn email_and_username_of_one_user_share_a_count(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_THROTTLE_ACCOUNT_FAILURES", "4");
        })
        .await;
        let client = app.confidential_client();
        let response = app
            .http
            .post(app.url("/auth/register"))
            .json(&serde_json::json!({ "email": "ada@example.com", "username": "ada", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        for login in ["ada@example.com", "ada", "ADA@example.com", "ada"] {
            assert_eq!(attempt(&app, &client, login, "wrong password").await.status(), 400);
        }
        assert_throttled(attempt(&app, &client, "ada", PASSWORD).await).await;
        assert_throttled(attempt(&app, &client, "ada@example.com", PASSWORD).await).await;
    }
}
