//! Opaque access tokens imported from django-oauth-toolkit act as ours until they expire:
//! Bearer on resource routes, introspection and both forms of revocation (SPEC §11). The
//! records are written as `import-django` writes them: only the token's hash.

use portcullis::db::Writer;
use portcullis::store::applications::Application;
use portcullis::store::tokens::{AccessRecord, NewAccess};
use portcullis::tokens::imported;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, text, TestApp, TestClient, PASSWORD};

/// Records `token` (an opaque DOT token) for `user_id` on `client`, expiring in `ttl` seconds.
fn imported_access(app: &TestApp, client: &TestClient, user_id: i64, token: &str, ttl: i64) {
    let application = Application::find_by_client_id(&mut app.db(), &client.id).unwrap().unwrap();
    let now = portcullis::time::now();
    let jti = imported::access_jti(token);
    AccessRecord::insert(
        &mut Writer::offline(&mut app.db()),
        &NewAccess {
            jti: &jti,
            user_id: Some(user_id),
            application_id: application.id,
            refresh_token_id: None,
            family_id: None,
            scope: "read write",
            created_at: now - 60,
            expires_at: now + ttl,
        },
    )
    .unwrap();
}

both_backends! {
    async fn an_imported_access_token_is_a_bearer_token_until_it_expires(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let id = app.create_user("moved@example.com", PASSWORD).await;
        let live = "Xq3vT9bLkP0aZr7mW2cYd8eF4gH6jN";
        imported_access(&app, &client, id, live, 3600);
        let expired = "Oa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0";
        imported_access(&app, &client, id, expired, -1);

        let me = app.get_user(live).await;
        assert_eq!(me.status(), 200);
        let me: serde_json::Value = me.json().await.unwrap();
        assert_eq!(me["email"], "moved@example.com");
        let info = app.introspect(&client, live).await;
        assert_eq!(info["active"], true, "{info}");
        assert_eq!((info["client_id"].clone(), info["sub"].clone()), (client.id.clone().into(), id.to_string().into()));
        assert_eq!(info["scope"], "read write");
        assert_eq!(info["token_type"], "Bearer");

        let body = assert_oauth_error(app.get_user(expired).await, 401, "invalid_token").await;
        assert!(text(&body, "error_description").contains("expired"), "{body}");
        assert_eq!(app.introspect(&client, expired).await["active"], false);
        // The token itself is nowhere in the database, and an unknown one is refused.
        assert_eq!(app.user_status("Xq3vT9bLkP0aZr7mW2cYd8eF4gH6jM").await, 401);
        assert_eq!(app.user_status(&imported::access_jti(live)).await, 401);
    }

    async fn an_imported_access_token_is_revoked_like_ours(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let id = app.create_user("moved@example.com", PASSWORD).await;
        let (first, second) = ("Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op", "Qr56St78Uv90Wx12Yz34Ab56Cd78Ef");
        imported_access(&app, &client, id, first, 3600);
        imported_access(&app, &client, id, second, 3600);

        // RFC 7009, the client naming the token.
        let mut params = client.body();
        params.push(("token", first.to_owned()));
        assert_eq!(app.post_form("/auth/revoke-token", &params).await.status(), 200);
        let body = assert_oauth_error(app.get_user(first).await, 401, "invalid_token").await;
        assert!(text(&body, "error_description").contains("revoked"), "{body}");
        assert_eq!(app.introspect(&client, first).await["active"], false);

        // drf-social-oauth2's form: the token as Bearer, the client by id.
        let revoked = app
            .http
            .post(app.url("/auth/revoke-token"))
            .bearer_auth(second)
            .form(&[("client_id", client.id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 204);
        assert_eq!(app.user_status(second).await, 401);
    }
}
