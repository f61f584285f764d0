//! Sign-up, the signed-in user's profile and password, and the staff listing.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, text, TestApp, PASSWORD};

async fn register(app: &TestApp, body: Value) -> reqwest::Response {
    app.http.post(app.url("/auth/register")).json(&body).send().await.unwrap()
}

async fn field_errors(response: reqwest::Response) -> Value {
    let body = assert_oauth_error(response, 400, "invalid_request").await;
    body["fields"].clone()
}

both_backends! {
    async fn registration_normalises_the_email_and_derives_a_username(backend) {
        let app = spawn_app(backend).await;
        let response = app
            .http
            .post(app.url("/auth/register/"))
            .form(&[("email", " Ada.Lovelace@Example.COM "), ("password", PASSWORD), ("first_name", "Ada")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["email"], "ada.lovelace@example.com");
        assert_eq!(body["username"], "ada.lovelace");
        assert_eq!(body["first_name"], "Ada");
        assert!(body.get("access_token").is_none());
        assert!(body.get("password_hash").is_none() && !body.to_string().contains("argon2"));
    }

    async fn registration_errors_name_their_fields(backend) {
        let app = spawn_app(backend).await;
        let fields = field_errors(register(&app, json!({})).await).await;
        assert!(fields["email"].is_array() && fields["password"].is_array(), "{fields}");

        let cases = [
            (json!({ "email": "not-an-email", "password": PASSWORD }), "email"),
            (json!({ "email": "ada@example.com", "password": "short" }), "password"),
            (json!({ "email": "ada@example.com", "password": "12345678901" }), "password"),
            (json!({ "email": "ada@example.com", "password": "ada@example.com" }), "password"),
            (json!({ "email": "ada@example.com", "password": "password123" }), "password"),
        ];
        for (body, field) in cases {
            let fields = field_errors(register(&app, body.clone()).await).await;
            assert!(fields[field].as_array().is_some_and(|m| !m.is_empty()), "{body} -> {fields}");
        }
        // None of the refused sign-ups left a user behind.
        assert_eq!(register(&app, json!({ "email": "ada@example.com", "password": PASSWORD })).await.status(), 201);
    }

    async fn emails_are_unique_whatever_their_case(backend) {
        let app = spawn_app(backend).await;
        app.create_user("ada@example.com", PASSWORD).await;
        let fields = field_errors(register(&app, json!({ "email": "ADA@Example.com", "password": PASSWORD })).await).await;
        assert!(fields["email"][0].as_str().unwrap().contains("already exists"));
    }

    async fn registration_with_client_credentials_signs_the_user_in(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let response = register(
            &app,
            json!({ "email": "ada@example.com", "password": PASSWORD,
                    "client_id": client.id, "client_secret": client.secret }),
        )
        .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["email"], "ada@example.com");
        assert!(text(&body, "refresh_token").starts_with("pc_rt_"));
        let me: Value = app.get_user(&text(&body, "access_token")).await.json().await.unwrap();
        assert_eq!(me["id"], body["id"]);
    }

    async fn registration_with_a_bad_client_creates_nobody(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let response = register(
            &app,
            json!({ "email": "ada@example.com", "password": PASSWORD,
                    "client_id": client.id, "client_secret": "pc_cs_wrong" }),
        )
        .await;
        assert_oauth_error(response, 401, "invalid_client").await;
        assert_eq!(register(&app, json!({ "email": "ada@example.com", "password": PASSWORD })).await.status(), 201);
    }

    async fn the_signed_in_user_reads_and_renames_itself(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let access = text(&app.sign_in(&client, "ada@example.com").await, "access_token");
        for path in ["/auth/user", "/auth/me", "/auth/me/"] {
            let me: Value = app.http.get(app.url(path)).bearer_auth(&access).send().await.unwrap().json().await.unwrap();
            assert_eq!(me["email"], "ada@example.com", "{path}");
            assert_eq!(me["is_staff"], false);
            assert_eq!(me["social"], json!([]));
            assert!(me["date_joined"].is_number());
        }
        let response = app
            .http
            .patch(app.url("/auth/user"))
            .bearer_auth(&access)
            .json(&json!({ "first_name": "Ada", "last_name": "Lovelace" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let me: Value = app.get_user(&access).await.json().await.unwrap();
        assert_eq!((me["first_name"].as_str(), me["last_name"].as_str()), (Some("Ada"), Some("Lovelace")));
    }

    async fn changing_the_password_ends_the_other_sessions(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let here = app.sign_in(&client, "ada@example.com").await;
        let elsewhere = app.sign_in(&client, "ada@example.com").await;
        // A browser signed in too: the console answers it "Staff only" (signed in,
        // not staff), and sends a signed-out browser to its sign-in page.
        let id = app.get_user(&text(&here, "access_token")).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let browser = portcullis::browser::session::Browser::sign_in(&mut portcullis::db::Writer::offline(&mut app.db()), id).unwrap();
        let console = || {
            app.http
                .get(app.url("/admin/"))
                .header("cookie", format!("portcullis_session={}", browser.token))
                .send()
        };
        assert_eq!(console().await.unwrap().status(), 403);
        let change = |old: &str, new: &str| {
            app.http
                .post(app.url("/auth/password"))
                .bearer_auth(text(&here, "access_token"))
                .json(&json!({ "old_password": old, "new_password": new }))
                .send()
        };
        let fields = field_errors(change("wrong password!", "a brand new secret").await.unwrap()).await;
        assert!(fields["old_password"].is_array());
        assert_eq!(change(PASSWORD, "a brand new secret").await.unwrap().status(), 204);

        let old_password = app.token(&client).password("ada@example.com", PASSWORD).send().await;
        assert_oauth_error(old_password, 400, "invalid_grant").await;
        app.token(&client).password("ada@example.com", "a brand new secret").ok().await;
        let signed_out = app.token(&client).refresh(&text(&elsewhere, "refresh_token")).send().await;
        assert_oauth_error(signed_out, 400, "invalid_grant").await;
        assert_eq!(app.user_status(&text(&elsewhere, "access_token")).await, 401);
        assert_eq!(app.token(&client).refresh(&text(&here, "refresh_token")).send().await.status(), 200);
        assert_eq!(console().await.unwrap().status(), 303, "the browser was signed out");
    }

    async fn only_staff_list_users(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        app.create_user("grace@example.com", PASSWORD).await;
        app.create_staff("root@example.com", PASSWORD);
        let ada = text(&app.sign_in(&client, "ada@example.com").await, "access_token");
        let root = text(&app.sign_in(&client, "root@example.com").await, "access_token");

        assert_oauth_error(app.http.get(app.url("/auth/users")).send().await.unwrap(), 401, "invalid_token").await;
        let forbidden = app.http.get(app.url("/auth/users")).bearer_auth(&ada).send().await.unwrap();
        assert_eq!(forbidden.status(), 403);

        let all: Value = app.http.get(app.url("/auth/users")).bearer_auth(&root).send().await.unwrap().json().await.unwrap();
        assert_eq!(all["total"], 3);
        assert_eq!(all["items"].as_array().unwrap().len(), 3);
        let found: Value = app
            .http
            .get(app.url("/auth/users?q=grace&per_page=1"))
            .bearer_auth(&root)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(found["total"], 1);
        assert_eq!(found["items"][0]["email"], "grace@example.com");
    }
}
