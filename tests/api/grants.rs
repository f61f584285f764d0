//! The password grant, client authentication in every form a client may send it,
//! grant allow-lists and scopes on `/auth/token`.

use portcullis::domain::{ClientType, GrantType};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, text, TestClient, PASSWORD};

both_backends! {
    async fn json_body_signs_in_like_the_drf_tutorials(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;

        let response = app.token(&client).password("ada@example.com", PASSWORD).json().send().await;

        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(app.user_status(&text(&body, "access_token")).await, 200);
    }

    async fn http_basic_client_authentication_is_accepted(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;

        let response =
            app.token(&client).at("/auth/token/").basic().password("ada@example.com", PASSWORD).send().await;

        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(text(&body, "refresh_token").starts_with("pc_rt_"));
    }

    async fn unknown_client_is_invalid_client(backend) {
        let app = spawn_app(backend).await;
        let nobody = TestClient { id: "nobody".to_owned(), secret: None };

        let response = app.token(&nobody).password("ada@example.com", PASSWORD).send().await;

        assert_oauth_error(response, 401, "invalid_client").await;
    }

    async fn wrong_secret_is_invalid_client_with_a_basic_challenge(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;

        let in_header =
            app.token(&client).basic().secret("pc_cs_wrong").password("ada@example.com", PASSWORD).send().await;
        let in_body = app.token(&client).secret("pc_cs_wrong").password("ada@example.com", PASSWORD).send().await;

        let challenge = in_header.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        assert_oauth_error(in_header, 401, "invalid_client").await;
        assert!(challenge.unwrap_or_default().starts_with("Basic"));
        assert_oauth_error(in_body, 401, "invalid_client").await;
    }

    async fn confidential_client_without_its_secret_is_refused(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;

        let response = app.token(&client).without_secret().password("ada@example.com", PASSWORD).send().await;

        assert_oauth_error(response, 401, "invalid_client").await;
    }

    async fn grant_outside_the_allow_list_is_unauthorized_client(backend) {
        let app = spawn_app(backend).await;
        let client = app.create_client(ClientType::Confidential, &[GrantType::ClientCredentials]);
        app.create_user("ada@example.com", PASSWORD).await;

        let response = app.token(&client).password("ada@example.com", PASSWORD).send().await;

        assert_oauth_error(response, 400, "unauthorized_client").await;
    }

    async fn missing_or_unknown_grant_types_are_named_errors(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();

        let no_grant = app.token(&client).send().await;
        let implicit = app.token(&client).grant("implicit").send().await;
        let no_username = app.token(&client).grant("password").param("password", PASSWORD).send().await;

        assert_oauth_error(no_grant, 400, "invalid_request").await;
        assert_oauth_error(implicit, 400, "unsupported_grant_type").await;
        let body = assert_oauth_error(no_username, 400, "invalid_request").await;
        assert!(text(&body, "error_description").contains("username"));
    }

    async fn scopes_are_checked_and_admin_is_for_staff_only(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        app.create_staff("root@example.com", PASSWORD);

        let unknown = app.token(&client).password("ada@example.com", PASSWORD).scope("read teleport").send().await;
        let admin_for_member =
            app.token(&client).password("ada@example.com", PASSWORD).scope("read admin").send().await;
        let admin_for_staff =
            app.token(&client).password("root@example.com", PASSWORD).scope("read admin").send().await;
        let read = app.token(&client).password("ada@example.com", PASSWORD).scope("read").send().await;

        assert_oauth_error(unknown, 400, "invalid_scope").await;
        assert_oauth_error(admin_for_member, 400, "invalid_scope").await;
        assert_eq!(admin_for_staff.status(), 200);
        let body: Value = admin_for_staff.json().await.unwrap();
        assert_eq!(body["scope"], "admin read");
        let body: Value = read.json().await.unwrap();
        assert_eq!(body["scope"], "read");
    }

    async fn inactive_user_cannot_sign_in(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let id = app.create_user("ada@example.com", PASSWORD).await;
        app.set_active(id, false);

        let response = app.token(&client).password("ada@example.com", PASSWORD).send().await;

        assert_oauth_error(response, 400, "invalid_grant").await;
    }

    async fn client_credentials_issue_no_refresh_token(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();

        let response = app.token(&client).client_credentials().send().await;

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
        let password_only = app.create_client(ClientType::Confidential, &[GrantType::Password]);
        let client = app.confidential_client();

        let without_the_grant = app.token(&password_only).client_credentials().send().await;
        let admin = app.token(&client).client_credentials().scope("admin").send().await;

        assert_oauth_error(without_the_grant, 400, "unauthorized_client").await;
        assert_oauth_error(admin, 400, "invalid_scope").await;
    }

    async fn public_clients_sign_in_with_client_id_alone(backend) {
        let app = spawn_app(backend).await;
        let client = app.create_client(ClientType::Public, &[GrantType::Password, GrantType::RefreshToken]);
        assert!(client.secret.is_none());
        app.create_user("ada@example.com", PASSWORD).await;

        let body = app.token(&client).password("ada@example.com", PASSWORD).ok().await;
        let refreshed = app.token(&client).refresh(&text(&body, "refresh_token")).send().await;

        assert_eq!(refreshed.status(), 200);
    }

    async fn form_body_with_client_secret_issues_a_token_pair(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;

        let response = app.token(&client).password("ADA@example.com", PASSWORD).send().await;

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

        let response = app.token(&client).password("ada@example.com", "wrong horse battery").send().await;

        assert_oauth_error(response, 400, "invalid_grant").await;
    }
}
