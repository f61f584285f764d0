//! The password grant with every way a client may authenticate and send its body.

use portcullis::domain::{ClientType, GrantType};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app};

both_backends! {
    async fn form_body_with_client_secret_issues_a_token_pair(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("ada@example.com", "correct horse battery").await;
        let mut params = client.body();
        params.extend([
            ("grant_type", "password".to_owned()),
            ("username", "ADA@example.com".to_owned()),
            ("password", "correct horse battery".to_owned()),
        ]);
        let response = app.post_token(&params).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "read write");
        assert!(body["refresh_token"].as_str().unwrap().starts_with("pc_rt_"));
        let me: Value = app.get_user(body["access_token"].as_str().unwrap()).await.json().await.unwrap();
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
        app.create_user("ada@example.com", "correct horse battery").await;
        let mut params = client.body();
        params.extend([
            ("grant_type", "password".to_owned()),
            ("username", "ada@example.com".to_owned()),
            ("password", "wrong horse battery".to_owned()),
        ]);
        assert_oauth_error(app.post_token(&params).await, 400, "invalid_grant").await;
    }
}
