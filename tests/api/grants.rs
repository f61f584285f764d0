//! The password grant, client authentication in every form a client may send it,
//! grant allow-lists and scopes on `/auth/token`.

use portcullis::domain::{ClientType, GrantType};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, text, PASSWORD};

fn password_params(username: &str, password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "password".to_owned()),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ]
}

both_backends! {
    async fn json_body_signs_in_like_the_drf_tutorials(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let response = app
            .http
            .post(app.url("/auth/token"))
            .json(&json!({
                "grant_type": "password",
                "username": "ada@example.com",
                "password": PASSWORD,
                "client_id": client.id,
                "client_secret": client.secret,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(app.user_status(&text(&body, "access_token")).await, 200);
    }

    async fn http_basic_client_authentication_is_accepted(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let response = app
            .http
            .post(app.url("/auth/token/"))
            .basic_auth(&client.id, client.secret.as_ref())
            .form(&password_params("ada@example.com", PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(text(&body, "refresh_token").starts_with("pc_rt_"));
    }

    async fn unknown_client_is_invalid_client(backend) {
        let app = spawn_app(backend).await;
        let mut params = password_params("ada@example.com", PASSWORD);
        params.push(("client_id", "nobody".to_owned()));
        assert_oauth_error(app.post_token(&params).await, 401, "invalid_client").await;
    }

    async fn wrong_secret_is_invalid_client_with_a_basic_challenge(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let response = app
            .http
            .post(app.url("/auth/token"))
            .basic_auth(&client.id, Some("pc_cs_wrong"))
            .form(&password_params("ada@example.com", PASSWORD))
            .send()
            .await
            .unwrap();
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        assert_oauth_error(response, 401, "invalid_client").await;
        assert!(challenge.unwrap_or_default().starts_with("Basic"));

        let mut params = password_params("ada@example.com", PASSWORD);
        params.extend([("client_id", client.id.clone()), ("client_secret", "pc_cs_wrong".to_owned())]);
        assert_oauth_error(app.post_token(&params).await, 401, "invalid_client").await;
    }

    async fn confidential_client_without_its_secret_is_refused(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let mut params = password_params("ada@example.com", PASSWORD);
        params.push(("client_id", client.id.clone()));
        assert_oauth_error(app.post_token(&params).await, 401, "invalid_client").await;
    }

    async fn grant_outside_the_allow_list_is_unauthorized_client(backend) {
        let app = spawn_app(backend).await;
        let client = app.create_client(ClientType::Confidential, &[GrantType::ClientCredentials]);
        app.create_user("ada@example.com", PASSWORD).await;
        let mut params = client.body();
        params.extend(password_params("ada@example.com", PASSWORD));
        assert_oauth_error(app.post_token(&params).await, 400, "unauthorized_client").await;
    }

    async fn missing_or_unknown_grant_types_are_named_errors(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        assert_oauth_error(app.post_token(&client.body()).await, 400, "invalid_request").await;
        let mut params = client.body();
        params.push(("grant_type", "implicit".to_owned()));
        assert_oauth_error(app.post_token(&params).await, 400, "unsupported_grant_type").await;
        let mut params = client.body();
        params.extend([("grant_type", "password".to_owned()), ("password", PASSWORD.to_owned())]);
        let body = assert_oauth_error(app.post_token(&params).await, 400, "invalid_request").await;
        assert!(text(&body, "error_description").contains("username"));
    }

    async fn scopes_are_checked_and_admin_is_for_staff_only(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        app.create_staff("root@example.com", PASSWORD);

        let mut params = client.body();
        params.extend(password_params("ada@example.com", PASSWORD));
        params.push(("scope", "read teleport".to_owned()));
        assert_oauth_error(app.post_token(&params).await, 400, "invalid_scope").await;

        let mut params = client.body();
        params.extend(password_params("ada@example.com", PASSWORD));
        params.push(("scope", "read admin".to_owned()));
        assert_oauth_error(app.post_token(&params).await, 400, "invalid_scope").await;

        let mut params = client.body();
        params.extend(password_params("root@example.com", PASSWORD));
        params.push(("scope", "read admin".to_owned()));
        let response = app.post_token(&params).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scope"], "admin read");

        let mut params = client.body();
        params.extend(password_params("ada@example.com", PASSWORD));
        params.push(("scope", "read".to_owned()));
        let body: Value = app.post_token(&params).await.json().await.unwrap();
        assert_eq!(body["scope"], "read");
    }

    async fn inactive_user_cannot_sign_in(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let id = app.create_user("ada@example.com", PASSWORD).await;
        app.set_active(id, false);
        let mut params = client.body();
        params.extend(password_params("ada@example.com", PASSWORD));
        assert_oauth_error(app.post_token(&params).await, 400, "invalid_grant").await;
    }

    async fn client_credentials_issue_no_refresh_token(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let mut params = client.body();
        params.push(("grant_type", "client_credentials".to_owned()));
        let response = app.post_token(&params).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert_eq!(body["token_type"], "Bearer");
        let info = app.introspect(&client, &text(&body, "access_token")).await;
        assert_eq!(info["active"], true);
        assert_eq!(info["sub"], client.id.as_str());
        assert_eq!(info["client_id"], client.id.as_str());
    }

    async fn client_credentials_need_the_grant_and_refuse_admin(backend) {
        let app = spawn_app(backend).await;
        let client = app.create_client(ClientType::Confidential, &[GrantType::Password]);
        let mut params = client.body();
        params.push(("grant_type", "client_credentials".to_owned()));
        assert_oauth_error(app.post_token(&params).await, 400, "unauthorized_client").await;

        let client = app.confidential_client();
        let mut params = client.body();
        params.extend([("grant_type", "client_credentials".to_owned()), ("scope", "admin".to_owned())]);
        assert_oauth_error(app.post_token(&params).await, 400, "invalid_scope").await;
    }

    async fn public_clients_sign_in_with_client_id_alone(backend) {
        let app = spawn_app(backend).await;
        let client = app.create_client(ClientType::Public, &[GrantType::Password, GrantType::RefreshToken]);
        assert!(client.secret.is_none());
        app.create_user("ada@example.com", PASSWORD).await;
        let body = app.sign_in(&client, "ada@example.com").await;
        let refreshed = app.refresh(&client, &text(&body, "refresh_token")).await;
        assert_eq!(refreshed.status(), 200);
    }

    async fn form_body_with_client_secret_issues_a_token_pair(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        let mut params = client.body();
        params.extend(password_params("ADA@example.com", PASSWORD));
        let response = app.post_token(&params).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "read write");
        assert!(text(&body, "refresh_token").starts_with("pc_rt_"));
        let me: Value = app.get_user(&text(&body, "access_token")).await.json().await.unwrap();
        assert_eq!(me["email"], "ada@example.com");
        // The sign-in is recorded with the tokens: the user's last login and the audit log.
        use diesel::prelude::*;
        use portcullis::store::schema::{audit_events, users};
        let last_login: Option<i64> = users::table.select(users::last_login).first(&mut app.db()).unwrap();
        assert!(last_login.is_some_and(|at| at > 0));
        let events: Vec<(Option<i64>, String)> = audit_events::table
            .filter(audit_events::action.eq("login.password"))
            .select((audit_events::actor_user_id, audit_events::target_id))
            .load(&mut app.db())
            .unwrap();
        assert_eq!(events, [(Some(me["id"].as_i64().unwrap()), client.id.clone())]);
    }

    async fn wrong_password_is_invalid_grant(backend) {
        let app = spawn_app(backend).await;
        let client = app.create_client(ClientType::Public, &[GrantType::Password]);
        app.create_user("ada@example.com", PASSWORD).await;
        let mut params = client.body();
        params.extend(password_params("ada@example.com", "wrong horse battery"));
        assert_oauth_error(app.post_token(&params).await, 400, "invalid_grant").await;
    }
}
