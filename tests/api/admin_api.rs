//! The admin JSON API (SPEC §8): who may call it, and every route's effect.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::browser::{authorize_path, pkce, public_client, Visitor, REDIRECT};
use crate::helpers::{assert_oauth_error, spawn_app, text, TestApp, TestClient, PASSWORD};

const STAFF: &str = "root@example.com";

/// A staff user's access token with scope `admin`.
async fn staff_token(app: &TestApp) -> String {
    app.create_staff(STAFF, PASSWORD);
    let client = app.confidential_client();
    let body = app.token(&client).password(STAFF, PASSWORD).scope("read write admin").ok().await;
    assert!(text(&body, "scope").contains("admin"));
    text(&body, "access_token")
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request sent")
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn audit_count(app: &TestApp, token: &str, action: &str) -> i64 {
    let body =
        json_of(call(app, Method::GET, &format!("/admin/api/audit?action={action}"), token, None).await, 200)
            .await;
    body["total"].as_i64().unwrap()
}

both_backends! {
    async fn anonymous_gets_401_and_anyone_but_admin_staff_403(backend) {
        let app = spawn_app(backend).await;
        let anonymous = app.http.get(app.url("/admin/api/applications")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        let body: Value = anonymous.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");

        let client = app.confidential_client();
        app.create_user("plain@example.com", PASSWORD).await;
        let plain = app.sign_in(&client, "plain@example.com").await;
        let response = call(&app, Method::GET, "/admin/api/users", &text(&plain, "access_token"), None).await;
        assert_eq!(response.status(), 403);

        app.create_staff("staff-no-admin@example.com", PASSWORD);
        let without_scope = app.sign_in(&client, "staff-no-admin@example.com").await;
        let response = call(&app, Method::GET, "/admin/api/users", &text(&without_scope, "access_token"), None).await;
        assert_eq!(response.status(), 403, "staff, but the token lacks scope admin");

        let token = staff_token(&app).await;
        let listing = json_of(call(&app, Method::GET, "/admin/api/users", &token, None).await, 200).await;
        assert_eq!(listing["total"], 3);
    }

    async fn an_application_is_created_shown_once_rotated_edited_and_deleted(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let created = json_of(call(&app, Method::POST, "/admin/api/applications", &token, Some(json!({
            "name": "Billing", "client_type": "confidential",
            "grant_types": ["client_credentials", "password", "refresh_token"],
            "redirect_uris": ["https://billing.example.com/cb"], "skip_authorization": false,
        }))).await, 201).await;
        let client = TestClient { id: text(&created, "client_id"), secret: Some(text(&created, "client_secret")) };
        assert_eq!(created["grant_types"], json!(["client_credentials", "password", "refresh_token"]));

        let listing = call(&app, Method::GET, "/admin/api/applications", &token, None).await.text().await.unwrap();
        assert!(listing.contains(&client.id));
        assert!(!listing.contains("client_secret") && !listing.contains(client.secret.as_deref().unwrap()), "{listing}");
        let shown = json_of(call(&app, Method::GET, &format!("/admin/api/applications/{}", client.id), &token, None).await, 200).await;
        assert_eq!(shown["name"], "Billing");
        assert!(shown.get("client_secret").is_none());
        assert_eq!(app.token(&client).client_credentials().send().await.status(), 200);
        // A second server on the same database has served the client before each change.
        let replica = app.replica().await;
        assert_eq!(replica.token(&client).client_credentials().send().await.status(), 200);

        let rotated = call(&app, Method::POST, &format!("/admin/api/applications/{}/rotate-secret", client.id), &token, None).await;
        assert!(rotated.headers().get(UNCONFIRMED).is_none(), "both servers confirmed");
        let rotated = json_of(rotated, 200).await;
        let new_client = TestClient { id: client.id.clone(), secret: Some(text(&rotated, "client_secret")) };
        assert_ne!(new_client.secret, client.secret);
        for server in [&app, &replica] {
            let old_secret = server.token(&client).client_credentials().send().await;
            assert_oauth_error(old_secret, 401, "invalid_client").await;
        }
        assert_eq!(app.token(&new_client).client_credentials().send().await.status(), 200);
        assert_eq!(replica.token(&new_client).client_credentials().send().await.status(), 200);

        let path = format!("/admin/api/applications/{}", client.id);
        let edited = json_of(call(&app, Method::PATCH, &path, &token, Some(json!({
            "grant_types": ["password", "refresh_token"], "redirect_uris": [], "skip_authorization": true, "name": "Billing 2",
        }))).await, 200).await;
        assert_eq!(edited["grant_types"], json!(["password", "refresh_token"]));
        assert_eq!(edited["redirect_uris"], json!([]));
        assert_eq!((edited["skip_authorization"].clone(), edited["name"].clone()), (json!(true), json!("Billing 2")));
        for server in [&app, &replica] {
            let dropped_grant = server.token(&new_client).client_credentials().send().await;
            assert_oauth_error(dropped_grant, 400, "unauthorized_client").await;
        }
        let refused = call(&app, Method::PATCH, &path, &token, Some(json!({ "client_type": "public" }))).await;
        assert_oauth_error(refused, 400, "invalid_request").await;

        // Deleting revokes what the application held.
        app.create_user("payer@example.com", PASSWORD).await;
        let pair = app.sign_in(&new_client, "payer@example.com").await;
        assert_eq!(app.user_status(&text(&pair, "access_token")).await, 200);
        assert_eq!(call(&app, Method::DELETE, &path, &token, None).await.status(), 204);
        assert_eq!(app.user_status(&text(&pair, "access_token")).await, 401);
        for server in [&app, &replica] {
            let deleted_client = server.token(&new_client).refresh(&text(&pair, "refresh_token")).send().await;
            assert_oauth_error(deleted_client, 401, "invalid_client").await;
        }
        assert_eq!(call(&app, Method::GET, &path, &token, None).await.status(), 404);

        for action in ["application.create", "application.rotate_secret", "application.update", "application.delete"] {
            assert_eq!(audit_count(&app, &token, action).await, 1, "{action}");
        }
        let audit = json_of(call(&app, Method::GET, "/admin/api/audit?action=application.create", &token, None).await, 200).await;
        assert_eq!(audit["items"][0]["target_id"], json!(client.id));
        assert!(audit["items"][0]["actor_user_id"].as_i64().is_some());
    }

    async fn bad_application_input_is_a_400_and_writes_nothing(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        for body in [
            json!({ "grant_types": ["password"] }),
            json!({ "name": "X", "grant_types": ["telepathy"] }),
            json!({ "name": "X", "grant_types": [] }),
            json!({ "name": "X", "client_type": "public", "grant_types": ["client_credentials"] }),
            json!({ "name": "X", "grant_types": ["password"], "redirect_uris": ["not a url"] }),
            json!({ "name": "X", "grant_types": ["authorization_code"], "redirect_uris": ["javascript:alert(1)//"] }),
            json!({ "name": "X", "grant_types": ["authorization_code"], "redirect_uris": ["DATA:text/html,<b>x</b>"] }),
            json!({ "name": "X", "grant_types": ["authorization_code"], "redirect_uris": ["file:///etc/passwd"] }),
            json!({ "name": "X", "grant_types": ["authorization_code"], "redirect_uris": ["https://a.example/cb\tjavascript:alert(1)"] }),
            json!({ "name": "X", "grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb#x"] }),
            json!({ "name": "X", "grant_types": ["authorization_code"], "redirect_uris": ["https://a.example/cb\nhttps://b.example/cb"] }),
            json!({ "name": "X", "grant_types": ["password"], "skip_authorization": "maybe" }),
            json!({ "name": "X", "grant_types": ["password"], "id_token_signed_response_alg": "HS256" }),
            json!({ "name": "X", "grant_types": ["authorization_code"], "post_logout_redirect_uris": ["javascript:alert(1)//"] }),
            json!({ "name": "X", "grant_types": ["authorization_code"], "post_logout_redirect_uris": ["/relative"] }),
        ] {
            let response = call(&app, Method::POST, "/admin/api/applications", &token, Some(body.clone())).await;
            assert_oauth_error(response, 400, "invalid_request").await;
        }
        let listing = json_of(call(&app, Method::GET, "/admin/api/applications", &token, None).await, 200).await;
        assert_eq!(listing["total"], 1, "only the staff token's own client");
        assert_eq!(audit_count(&app, &token, "application.create").await, 0);
        let missing = call(&app, Method::DELETE, "/admin/api/applications/nope", &token, None).await;
        assert_eq!(missing.status(), 404);
        let nul = call(&app, Method::GET, "/admin/api/applications/a%00b", &token, None).await;
        assert_eq!(nul.status(), 404);
        let listing = json_of(call(&app, Method::GET, "/admin/api/tokens?client_id=%00", &token, None).await, 200).await;
        assert_eq!(listing["total"], 0);
        let nul = call(&app, Method::GET, "/admin/api/audit?action=%00", &token, None).await;
        assert_oauth_error(nul, 400, "invalid_request").await;
    }

    async fn an_application_carries_its_logout_uris_and_id_token_algorithm(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let plain = json!({ "name": "Plain", "grant_types": ["password"] });
        let plain = json_of(call(&app, Method::POST, "/admin/api/applications", &token, Some(plain)).await, 201).await;
        assert_eq!(plain["id_token_signed_response_alg"], "RS256");
        assert_eq!(plain["post_logout_redirect_uris"], json!([]));

        let logout = json!(["https://rp.example/signed-out", "https://rp.example/bye?from=op,1"]);
        let created = json_of(call(&app, Method::POST, "/admin/api/applications", &token, Some(json!({
            "name": "Relying party", "client_type": "public", "grant_types": ["authorization_code"],
            "redirect_uris": ["https://rp.example/cb"], "post_logout_redirect_uris": logout,
            "id_token_signed_response_alg": "EdDSA",
        }))).await, 201).await;
        assert_eq!(created["post_logout_redirect_uris"], logout);
        assert_eq!(created["id_token_signed_response_alg"], "EdDSA");
        let path = format!("/admin/api/applications/{}", text(&created, "client_id"));
        let shown = json_of(call(&app, Method::GET, &path, &token, None).await, 200).await;
        assert_eq!((&shown["post_logout_redirect_uris"], &shown["id_token_signed_response_alg"]), (&logout, &json!("EdDSA")));
        let listing = json_of(call(&app, Method::GET, "/admin/api/applications", &token, None).await, 200).await;
        let listed = listing["items"].as_array().unwrap().iter().find(|a| a["client_id"] == created["client_id"]).unwrap().clone();
        assert_eq!((&listed["post_logout_redirect_uris"], &listed["id_token_signed_response_alg"]), (&logout, &json!("EdDSA")));
        let listed_plain = listing["items"].as_array().unwrap().iter().find(|a| a["client_id"] == plain["client_id"]).unwrap().clone();
        assert_eq!((&listed_plain["post_logout_redirect_uris"], &listed_plain["id_token_signed_response_alg"]), (&json!([]), &json!("RS256")));

        // A PATCH of other fields keeps them; a PATCH of them changes them.
        let renamed = json_of(call(&app, Method::PATCH, &path, &token, Some(json!({ "name": "RP" }))).await, 200).await;
        assert_eq!((&renamed["post_logout_redirect_uris"], &renamed["id_token_signed_response_alg"]), (&logout, &json!("EdDSA")));
        let edit = json!({ "post_logout_redirect_uris": ["https://rp.example/after"], "id_token_signed_response_alg": "RS256" });
        let edited = json_of(call(&app, Method::PATCH, &path, &token, Some(edit)).await, 200).await;
        assert_eq!(edited["post_logout_redirect_uris"], json!(["https://rp.example/after"]));
        assert_eq!(edited["id_token_signed_response_alg"], "RS256");
        let cleared = json_of(call(&app, Method::PATCH, &path, &token, Some(json!({ "post_logout_redirect_uris": [] }))).await, 200).await;
        assert_eq!(cleared["post_logout_redirect_uris"], json!([]));

        // Refused as a bad redirect URI is, and the application is left as it was.
        for body in [
            json!({ "id_token_signed_response_alg": "HS256" }),
            json!({ "id_token_signed_response_alg": "rs256" }),
            json!({ "id_token_signed_response_alg": "none" }),
            json!({ "post_logout_redirect_uris": ["javascript:alert(1)//"] }),
            json!({ "post_logout_redirect_uris": ["not a url"] }),
            json!({ "post_logout_redirect_uris": ["https://rp.example/bye#x"] }),
            json!({ "post_logout_redirect_uris": ["https://rp.example/bye\tjavascript:alert(1)"] }),
        ] {
            let refused = call(&app, Method::PATCH, &path, &token, Some(body.clone())).await;
            let error = assert_oauth_error(refused, 400, "invalid_request").await;
            let description = text(&error, "error_description");
            assert!(["algorithm", "redirect", "URL"].iter().any(|w| description.contains(w)), "{body}: {description}");
        }
        let kept = json_of(call(&app, Method::GET, &path, &token, None).await, 200).await;
        assert_eq!((&kept["post_logout_redirect_uris"], &kept["id_token_signed_response_alg"]), (&json!([]), &json!("RS256")));
        assert_eq!(audit_count(&app, &token, "application.update").await, 3);
    }

    // A comma is legal inside a URI, so it must not split one registered URI into two:
    // `?next=1,https://evil.example/cb` would otherwise register the second as its own.
    async fn a_redirect_uri_with_a_comma_stays_one_uri(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let uris = json!(["https://good.example/cb?x=1,https://evil.example/cb", "https://good.example/two?a=1,2"]);
        let body = json!({ "name": "Commas", "client_type": "public", "grant_types": ["authorization_code"], "redirect_uris": uris });
        let created = json_of(call(&app, Method::POST, "/admin/api/applications", &token, Some(body)).await, 201).await;
        assert_eq!(created["redirect_uris"], uris);
        let path = format!("/admin/api/applications/{}", text(&created, "client_id"));
        let edit = json!({ "redirect_uris": ["https://good.example/three?a=1,2"] });
        let edited = json_of(call(&app, Method::PATCH, &path, &token, Some(edit)).await, 200).await;
        assert_eq!(edited["redirect_uris"], json!(["https://good.example/three?a=1,2"]));
    }

    async fn listings_are_paginated(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        for n in 0..4 {
            let body = json!({ "name": format!("App {n}"), "grant_types": ["password"] });
            json_of(call(&app, Method::POST, "/admin/api/applications", &token, Some(body)).await, 201).await;
        }
        let first = json_of(call(&app, Method::GET, "/admin/api/applications?per_page=2", &token, None).await, 200).await;
        assert_eq!((first["total"].as_i64(), first["items"].as_array().unwrap().len()), (Some(5), 2));
        let last = json_of(call(&app, Method::GET, "/admin/api/applications?per_page=2&page=3", &token, None).await, 200).await;
        assert_eq!(last["items"].as_array().unwrap().len(), 1);
        assert_eq!(last["items"][0]["name"], "App 3");
    }

    async fn user_search_takes_percent_and_underscore_literally(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let under = app.create_user("a_b@example.com", PASSWORD).await;
        app.create_user("axb@example.com", PASSWORD).await;
        let found = json_of(call(&app, Method::GET, "/admin/api/users?q=a_b", &token, None).await, 200).await;
        assert_eq!((found["total"].as_i64(), found["items"][0]["id"].as_i64()), (Some(1), Some(under)));
        let none = json_of(call(&app, Method::GET, "/admin/api/users?q=%25", &token, None).await, 200).await;
        assert_eq!(none["total"], 0, "{none}");
        let all = json_of(call(&app, Method::GET, "/admin/api/users?q=example", &token, None).await, 200).await;
        assert_eq!(all["total"], 3, "the two users and the staff user");
    }

    async fn deactivating_a_user_kills_their_tokens_at_once(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let client = app.confidential_client();
        let id = app.create_user("leaver@example.com", PASSWORD).await;
        let pair = app.sign_in(&client, "leaver@example.com").await;

        let found = json_of(call(&app, Method::GET, "/admin/api/users?q=LEAVER", &token, None).await, 200).await;
        assert_eq!((found["total"].as_i64(), found["items"][0]["id"].as_i64()), (Some(1), Some(id)));

        let path = format!("/admin/api/users/{id}");
        let updated = json_of(call(&app, Method::PATCH, &path, &token, Some(json!({ "is_active": false }))).await, 200).await;
        assert_eq!(updated["is_active"], false);
        assert_eq!(app.user_status(&text(&pair, "access_token")).await, 401);
        let refresh = app.token(&client).refresh(&text(&pair, "refresh_token")).send().await;
        assert_oauth_error(refresh, 400, "invalid_grant").await;
        // Reactivation does not bring the old tokens back.
        json_of(call(&app, Method::PATCH, &path, &token, Some(json!({ "is_active": true, "is_staff": true }))).await, 200).await;
        assert_eq!(app.user_status(&text(&pair, "access_token")).await, 401);
        assert_eq!(audit_count(&app, &token, "user.deactivate").await, 1);
        assert_eq!(audit_count(&app, &token, "user.grant_staff").await, 1);

        let staff_id = json_of(call(&app, Method::GET, "/admin/api/users?q=root", &token, None).await, 200).await["items"][0]["id"].as_i64().unwrap();
        let myself = call(&app, Method::PATCH, &format!("/admin/api/users/{staff_id}"), &token, Some(json!({ "is_active": false }))).await;
        assert_oauth_error(myself, 400, "invalid_request").await;
        let nobody = call(&app, Method::PATCH, "/admin/api/users/999999", &token, Some(json!({ "is_active": false }))).await;
        assert_eq!(nobody.status(), 404);
    }

    async fn tokens_are_listed_and_revoked(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let client = app.confidential_client();
        let id = app.create_user("holder@example.com", PASSWORD).await;
        let first = app.sign_in(&client, "holder@example.com").await;
        let second = app.sign_in(&client, "holder@example.com").await;

        let listing = json_of(call(&app, Method::GET, &format!("/admin/api/tokens?user={id}"), &token, None).await, 200).await;
        assert_eq!(listing["total"], 4, "two refresh and two access tokens: {listing}");
        let items = listing["items"].as_array().unwrap();
        assert!(items.iter().all(|t| t["user_id"] == id && t["client_id"] == json!(client.id)));
        let by_client = json_of(call(&app, Method::GET, &format!("/admin/api/tokens?client_id={}", client.id), &token, None).await, 200).await;
        assert_eq!(by_client["total"], 4, "the staff token came from another client");

        // Newest refresh first: revoking it ends the second sign-in only.
        let refresh_id = text(&items[0], "id");
        assert!(refresh_id.starts_with("refresh-"), "{refresh_id}");
        assert_eq!(call(&app, Method::DELETE, &format!("/admin/api/tokens/{refresh_id}"), &token, None).await.status(), 204);
        assert_eq!(app.user_status(&text(&second, "access_token")).await, 401);
        assert_eq!(app.user_status(&text(&first, "access_token")).await, 200);

        let access = json_of(call(&app, Method::GET, &format!("/admin/api/tokens?user={id}"), &token, None).await, 200).await;
        let access_id = access["items"].as_array().unwrap().iter().map(|t| text(t, "id")).find(|i| i.starts_with("access-")).unwrap();
        assert_eq!(call(&app, Method::DELETE, &format!("/admin/api/tokens/{access_id}"), &token, None).await.status(), 204);
        assert_eq!(app.user_status(&text(&first, "access_token")).await, 401);
        assert_eq!(audit_count(&app, &token, "token.revoke").await, 2);
        for bad in ["refresh-999999", "access-x", "session-1", "12"] {
            assert_eq!(call(&app, Method::DELETE, &format!("/admin/api/tokens/{bad}"), &token, None).await.status(), 404, "{bad}");
        }
    }

    async fn a_refreshed_sign_in_lists_only_its_newest_pair(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let client = app.confidential_client();
        let id = app.create_user("holder@example.com", PASSWORD).await;
        let first = app.sign_in(&client, "holder@example.com").await;
        let second = app.token(&client).refresh(&text(&first, "refresh_token")).ok().await;

        let listing = json_of(call(&app, Method::GET, &format!("/admin/api/tokens?user={id}"), &token, None).await, 200).await;
        assert_eq!(listing["total"], 2, "the rotated refresh token and its access token are not live: {listing}");
        let kinds: Vec<String> = listing["items"].as_array().unwrap().iter().map(|t| text(t, "id")).collect();
        assert!(kinds[0].starts_with("refresh-") && kinds[1].starts_with("access-"), "{kinds:?}");
        assert_eq!(app.user_status(&text(&second, "access_token")).await, 200);
    }

    async fn social_links_are_listed_without_secrets_and_unlinked(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let id = app.create_user("linked@example.com", PASSWORD).await;
        portcullis::store::social::SocialAccount::insert(&mut portcullis::db::Writer::offline(&mut app.db()), &portcullis::store::social::NewSocialAccount {
            user_id: id, provider: "google-oauth2", uid: "g-1", extra_data: "{\"picture\": \"x\"}", created_at: 1,
        }).unwrap();
        let listing = json_of(call(&app, Method::GET, &format!("/admin/api/social?user={id}"), &token, None).await, 200).await;
        assert_eq!(listing["total"], 1);
        let link = &listing["items"][0];
        assert_eq!((link["provider"].clone(), link["uid"].clone()), (json!("google-oauth2"), json!("g-1")));
        assert!(link.get("extra_data").is_none() && link.get("provider_refresh_token").is_none());
        let link_id = link["id"].as_i64().unwrap();
        assert_eq!(call(&app, Method::DELETE, &format!("/admin/api/social/{link_id}"), &token, None).await.status(), 204);
        let after = json_of(call(&app, Method::GET, &format!("/admin/api/social?user={id}"), &token, None).await, 200).await;
        assert_eq!(after["total"], 0);
        assert_eq!(audit_count(&app, &token, "social.unlink").await, 1);
        assert_eq!(call(&app, Method::DELETE, &format!("/admin/api/social/{link_id}"), &token, None).await.status(), 404);
    }

    async fn a_staff_browser_session_works_with_its_csrf_token(backend) {
        let app = spawn_app(backend).await;
        app.create_staff(STAFF, PASSWORD);
        let client = public_client(&app);
        let (_, challenge) = pkce();
        let mut visitor = Visitor::new(&app);
        let consent = visitor.sign_in(&authorize_path(&client, REDIRECT, Some(&challenge)), STAFF, PASSWORD).await;
        assert!(consent.is_consent());
        let csrf = consent.csrf();

        let users = visitor.get("/admin/api/users").await;
        assert_eq!(users.status, 200, "{}", users.body);
        let create = |csrf: Option<&str>| {
            let mut request = app.http.post(app.url("/admin/api/applications"))
                .header("Cookie", visitor.cookie().unwrap().to_owned())
                .json(&json!({ "name": "From the console", "grant_types": ["password"] }));
            if let Some(csrf) = csrf {
                request = request.header("X-CSRF-Token", csrf);
            }
            request.send()
        };
        assert_eq!(create(None).await.unwrap().status(), 403, "an unsafe request needs X-CSRF-Token");
        assert_eq!(create(Some(&"0".repeat(64))).await.unwrap().status(), 403);
        let with = create(Some(&csrf)).await.unwrap();
        assert_eq!(with.status(), 201);

        // A signed-in user who is not staff is refused.
        app.create_user("member@example.com", PASSWORD).await;
        let mut member = Visitor::new(&app);
        member.sign_in(&authorize_path(&client, REDIRECT, Some(&challenge)), "member@example.com", PASSWORD).await;
        assert_eq!(member.get("/admin/api/users").await.status, 403);
    }

    async fn the_console_signs_staff_in_and_out(backend) {
        let app = spawn_app(backend).await;
        app.create_staff(STAFF, PASSWORD);
        let mut visitor = Visitor::new(&app);
        let away = visitor.get("/admin/").await;
        assert_eq!((away.status, away.location.as_deref()), (303, Some("/admin/login")));

        let form = visitor.get("/admin/login").await;
        assert!(form.is_sign_in());
        let refused = visitor.post("/admin/login", &[("username", STAFF), ("password", PASSWORD)]).await;
        assert_eq!(refused.status, 403, "no CSRF token");
        let wrong = visitor.post("/admin/login", &[("csrf_token", &form.csrf()), ("username", STAFF), ("password", "nope")]).await;
        assert_eq!(wrong.status, 400);
        let signed_in = visitor.post("/admin/login", &[("csrf_token", &form.csrf()), ("username", STAFF), ("password", PASSWORD)]).await;
        assert_eq!(signed_in.location.as_deref(), Some("/admin/"));

        let console = visitor.get("/admin/").await;
        assert_eq!(console.status, 200);
        assert!(console.body.contains("/admin/assets/app.js") && console.body.contains(STAFF));
        let csrf_start = console.body.find(r#"name="csrf-token" content=""#).unwrap() + 27;
        let csrf = &console.body[csrf_start..csrf_start + 64];
        let stats = visitor.get("/admin/api/stats").await;
        let stats: Value = serde_json::from_str(&stats.body).unwrap();
        assert_eq!((stats["users"].as_i64(), stats["applications"].as_i64()), (Some(1), Some(0)));
        assert_eq!(stats["sign_ins_per_day"].as_array().unwrap().len(), 14);
        assert_eq!(stats["sign_ins_per_day"][13]["sign_ins"], 1, "this sign-in, today");

        let script = app.http.get(app.url("/admin/assets/app.js")).send().await.unwrap();
        assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
        assert_eq!(app.http.get(app.url("/admin/assets/../Cargo.toml")).send().await.unwrap().status(), 404);

        let out = visitor.post("/admin/logout", &[("csrf_token", csrf)]).await;
        assert_eq!(out.location.as_deref(), Some("/admin/login"));
        assert_eq!(visitor.get("/admin/api/stats").await.status, 401, "the session is over");
    }

    async fn the_console_is_closed_to_users_who_are_not_staff(backend) {
        let app = spawn_app(backend).await;
        app.create_user("member@example.com", PASSWORD).await;
        let mut visitor = Visitor::new(&app);
        let form = visitor.get("/admin/login").await;
        let signed_in = visitor
            .post("/admin/login", &[("csrf_token", &form.csrf()), ("username", "member@example.com"), ("password", PASSWORD)])
            .await;
        assert_eq!(signed_in.status, 303);
        let console = visitor.get("/admin/").await;
        assert_eq!(console.status, 403);
        assert!(console.body.contains("Staff only") && !console.body.contains("app.js"));
        assert_eq!(visitor.get("/admin/api/users").await.status, 403);
    }

    async fn a_user_who_is_not_staff_can_sign_in_as_someone_else(backend) {
        let app = spawn_app(backend).await;
        app.create_staff(STAFF, PASSWORD);
        app.create_user("member@example.com", PASSWORD).await;
        let mut visitor = Visitor::new(&app);
        let form = visitor.get("/admin/login").await;
        visitor
            .post("/admin/login", &[("csrf_token", &form.csrf()), ("username", "member@example.com"), ("password", PASSWORD)])
            .await;

        // Back at the sign-in page, or refused by the console: told who is signed in,
        // and offered the console's sign-out instead of a dead end.
        for (path, status) in [("/admin/login", 200), ("/admin/", 403)] {
            let page = visitor.get(path).await;
            assert_eq!(page.status, status, "{path}: {}", page.body);
            assert!(page.body.contains("<strong>member@example.com</strong>"), "{path}: {}", page.body);
            assert!(page.body.contains(r#"action="/admin/logout""#), "{path}: {}", page.body);
            assert!(page.body.contains("Sign in as someone else"), "{path}");
        }
        let switch = visitor.get("/admin/login").await;

        // Without the page's CSRF token nothing ends.
        assert_eq!(visitor.post("/admin/logout", &[]).await.status, 403);
        assert!(visitor.get("/admin/login").await.body.contains("member@example.com"), "still signed in");

        let out = visitor.post("/admin/logout", &[("csrf_token", &switch.csrf())]).await;
        assert_eq!((out.status, out.location.as_deref()), (303, Some("/admin/login")));
        let form = visitor.get("/admin/login").await;
        assert!(form.is_sign_in() && !form.body.contains("member@example.com"), "{}", form.body);
        let staff = visitor
            .post("/admin/login", &[("csrf_token", &form.csrf()), ("username", STAFF), ("password", PASSWORD)])
            .await;
        assert_eq!(staff.location.as_deref(), Some("/admin/"));
        assert_eq!(visitor.get("/admin/").await.status, 200);
        // Staff already signed in skip the form.
        let again = visitor.get("/admin/login").await;
        assert_eq!((again.status, again.location.as_deref()), (303, Some("/admin/")));
    }

    async fn token_and_audit_listings_carry_the_users_emails(backend) {
        let app = spawn_app(backend).await;
        let token = staff_token(&app).await;
        let client = app.confidential_client();
        let id = app.create_user("holder@example.com", PASSWORD).await;
        app.sign_in(&client, "holder@example.com").await;
        app.token(&client).client_credentials().ok().await;

        let path = format!("/admin/api/tokens?client_id={}", client.id);
        let listing = json_of(call(&app, Method::GET, &path, &token, None).await, 200).await;
        assert_eq!(listing["total"], 3, "{listing}");
        let items = listing["items"].as_array().unwrap();
        let of_holder: Vec<&Value> = items.iter().filter(|t| t["user_id"] == id).collect();
        assert_eq!(of_holder.len(), 2, "a refresh and an access token: {listing}");
        assert!(of_holder.iter().all(|t| t["user_email"] == "holder@example.com"), "{listing}");
        // The client's own token has no user, and is still listed.
        let own = items.iter().find(|t| t["user_id"].is_null()).expect("the client_credentials token");
        assert!(own["user_email"].is_null(), "{own}");

        let patch = format!("/admin/api/users/{id}");
        json_of(call(&app, Method::PATCH, &patch, &token, Some(json!({ "is_active": false }))).await, 200).await;
        let audit = json_of(call(&app, Method::GET, "/admin/api/audit", &token, None).await, 200).await;
        let events = audit["items"].as_array().unwrap();
        let find = |action: &str| {
            events.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action} in {audit}"))
        };
        let deactivated = find("user.deactivate");
        assert_eq!(deactivated["actor_email"], STAFF, "{deactivated}");
        assert_eq!((deactivated["target_id"].clone(), deactivated["target_email"].clone()), (json!(id.to_string()), json!("holder@example.com")));
        let sign_in = events.iter().find(|e| e["action"] == "login.password" && e["actor_user_id"] == id).expect("the holder's sign-in");
        assert_eq!(sign_in["actor_email"], "holder@example.com", "{sign_in}");
        assert!(sign_in["target_email"].is_null(), "an application is no user: {sign_in}");
        assert_eq!(sign_in["target_id"], json!(client.id));
    }
}

const UNCONFIRMED: &str = "portcullis-unconfirmed-servers";

/// A server that never confirms an application change (a stuck replica): every
/// changing route still answers, and names how many servers did not confirm, so the
/// console can warn (the CLI prints the same warning).
#[actix_web::test]
async fn application_changes_name_servers_that_did_not_confirm() {
    let app = spawn_app(crate::helpers::Backend::Postgres).await;
    let token = staff_token(&app).await;
    let client = app.confidential_client();
    let _stuck = portcullis::db::listen::Listener::connect(
        &app.database_url,
        "portcullis_applications",
        "portcullis_client_cache",
    )
    .expect("listens");
    let path = format!("/admin/api/applications/{}", client.id);
    let changes = [
        (Method::POST, format!("{path}/rotate-secret"), None, 200),
        (Method::PATCH, path.clone(), Some(json!({ "name": "Renamed" })), 200),
        (Method::DELETE, path.clone(), None, 204),
    ];
    for (method, route, body, status) in changes {
        let response = call(&app, method.clone(), &route, &token, body).await;
        let unconfirmed = response.headers().get(UNCONFIRMED).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(response.status().as_u16(), status, "{method} {route}");
        assert_eq!(unconfirmed.as_deref(), Some("1"), "{method} {route}");
    }
}
