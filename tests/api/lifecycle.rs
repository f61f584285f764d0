//! Access tokens as JWTs, revocation in both forms, introspection, and session invalidation.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis::domain::{ClientType, GrantType};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, text, TestApp, TestClient, PASSWORD};

async fn revoke_rfc7009(app: &TestApp, client: &TestClient, token: &str) -> u16 {
    let mut params = client.body();
    params.push(("token", token.to_owned()));
    app.post_form("/auth/revoke-token", &params).await.status().as_u16()
}

async fn signed_in(app: &TestApp) -> (TestClient, Value) {
    let client = app.confidential_client();
    app.create_user("ada@example.com", PASSWORD).await;
    let tokens = app.sign_in(&client, "ada@example.com").await;
    (client, tokens)
}

both_backends! {
    async fn access_token_is_a_jwt_that_verifies_with_the_published_keys(backend) {
        let app = spawn_app(backend).await;
        let (client, tokens) = signed_in(&app).await;
        let token = text(&tokens, "access_token");
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        let kid = header.kid.expect("kid");
        let jwks: Value = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("kid published");
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&app.address]);
        validation.set_audience(&[&app.address]);
        let decoding = DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
        let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("signature verifies").claims;
        let me: Value = app.get_user(&token).await.json().await.unwrap();
        assert_eq!(claims["sub"], me["id"].as_i64().unwrap().to_string());
        assert_eq!(claims["client_id"], client.id.as_str());
        assert_eq!(claims["scope"], "read write");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    }

    async fn tampered_token_gets_a_bearer_challenge(backend) {
        let app = spawn_app(backend).await;
        let (_, tokens) = signed_in(&app).await;
        let token = text(&tokens, "access_token");
        // Change a character well inside the signature (the last one may be padding bits).
        let at = token.rfind('.').unwrap() + 10;
        let swapped = if &token[at..at + 1] == "A" { "B" } else { "A" };
        let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        let response = app.get_user(&tampered).await;
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer") && challenge.contains("invalid_token"), "{challenge}");
        assert_oauth_error(response, 401, "invalid_token").await;
        assert_oauth_error(app.http.get(app.url("/auth/user")).send().await.unwrap(), 401, "invalid_token").await;
    }

    async fn rfc7009_revocation_of_an_access_token_agrees_with_introspection(backend) {
        let app = spawn_app(backend).await;
        let (client, tokens) = signed_in(&app).await;
        let access = text(&tokens, "access_token");
        let live = app.introspect(&client, &access).await;
        assert_eq!(live["active"], true);
        for key in ["scope", "client_id", "username", "sub", "exp", "iat", "iss", "jti", "token_type"] {
            assert!(live.get(key).is_some(), "introspection lacks {key}: {live}");
        }
        assert_eq!(live["username"], "ada");
        assert_eq!(revoke_rfc7009(&app, &client, &access).await, 200);
        assert_eq!(app.introspect(&client, &access).await, serde_json::json!({ "active": false }));
        assert_eq!(app.user_status(&access).await, 401);
    }

    async fn revoking_a_refresh_token_ends_its_sign_in(backend) {
        let app = spawn_app(backend).await;
        let (client, tokens) = signed_in(&app).await;
        let refresh = text(&tokens, "refresh_token");
        assert_eq!(app.introspect(&client, &refresh).await["active"], true);
        assert_eq!(revoke_rfc7009(&app, &client, &refresh).await, 200);
        assert_eq!(app.introspect(&client, &refresh).await["active"], false);
        assert_oauth_error(app.token(&client).refresh(&refresh).send().await, 400, "invalid_grant").await;
        assert_eq!(app.user_status(&text(&tokens, "access_token")).await, 401);
        assert_eq!(revoke_rfc7009(&app, &client, "pc_rt_unknown").await, 200);
    }

    async fn another_clients_token_is_left_alone(backend) {
        let app = spawn_app(backend).await;
        let (client, tokens) = signed_in(&app).await;
        let intruder = app.confidential_client();
        let access = text(&tokens, "access_token");
        assert_eq!(revoke_rfc7009(&app, &intruder, &access).await, 200);
        assert_eq!(revoke_rfc7009(&app, &intruder, &text(&tokens, "refresh_token")).await, 200);
        assert_eq!(app.introspect(&client, &access).await["active"], true);
        assert_eq!(app.user_status(&access).await, 200);
    }

    async fn drf_revoke_form_kills_the_access_token_and_its_refresh_token(backend) {
        let app = spawn_app(backend).await;
        let (client, tokens) = signed_in(&app).await;
        let access = text(&tokens, "access_token");
        let response = app
            .http
            .post(app.url("/auth/revoke-token"))
            .bearer_auth(&access)
            .form(&[("client_id", client.id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(app.user_status(&access).await, 401);
        let refresh = app.token(&client).refresh(&text(&tokens, "refresh_token")).send().await;
        assert_oauth_error(refresh, 400, "invalid_grant").await;
    }

    async fn introspection_needs_client_authentication(backend) {
        let app = spawn_app(backend).await;
        let (client, tokens) = signed_in(&app).await;
        let params = [("token", text(&tokens, "access_token"))];
        assert_oauth_error(app.post_form("/auth/introspect", &params).await, 401, "invalid_client").await;
        let params = [
            ("token", text(&tokens, "access_token")),
            ("client_id", client.id.clone()),
            ("client_secret", "pc_cs_wrong".to_owned()),
        ];
        assert_oauth_error(app.post_form("/auth/introspect", &params).await, 401, "invalid_client").await;
        assert_eq!(app.introspect(&client, "not a token").await, serde_json::json!({ "active": false }));
    }

    async fn invalidate_sessions_ends_every_session_of_that_application_only(backend) {
        let app = spawn_app(backend).await;
        let (client, first) = signed_in(&app).await;
        let second = app.sign_in(&client, "ada@example.com").await;
        let elsewhere_client = app.create_client(ClientType::Public, &[GrantType::Password, GrantType::RefreshToken]);
        let elsewhere = app.sign_in(&elsewhere_client, "ada@example.com").await;
        let response = app
            .http
            .post(app.url("/auth/invalidate-sessions"))
            .bearer_auth(text(&first, "access_token"))
            .json(&serde_json::json!({ "client_id": client.id }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        for tokens in [&first, &second] {
            assert_eq!(app.user_status(&text(tokens, "access_token")).await, 401);
            let refresh = app.token(&client).refresh(&text(tokens, "refresh_token")).send().await;
            assert_oauth_error(refresh, 400, "invalid_grant").await;
        }
        assert_eq!(app.user_status(&text(&elsewhere, "access_token")).await, 200);
        let refresh = app.token(&elsewhere_client).refresh(&text(&elsewhere, "refresh_token")).send().await;
        assert_eq!(refresh.status(), 200);
    }

    async fn invalidate_refresh_tokens_keeps_access_tokens(backend) {
        let app = spawn_app(backend).await;
        let (client, tokens) = signed_in(&app).await;
        let response = app
            .http
            .post(app.url("/auth/invalidate-refresh-tokens"))
            .bearer_auth(text(&tokens, "access_token"))
            .form(&[("client_id", client.id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        let refresh = app.token(&client).refresh(&text(&tokens, "refresh_token")).send().await;
        assert_oauth_error(refresh, 400, "invalid_grant").await;
        assert_eq!(app.user_status(&text(&tokens, "access_token")).await, 200);
        let anonymous = app.post_form("/auth/invalidate-sessions", &[("client_id", client.id.clone())]).await;
        assert_oauth_error(anonymous, 401, "invalid_token").await;
    }
}
