//! Converting Google, Facebook and Apple credentials into Portcullis tokens, against a
//! fake provider server.

use std::time::Duration;

use portcullis::domain::{ClientType, GrantType};
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{assert_oauth_error, text, TestApp, TestClient, PASSWORD};
use crate::social_helpers::*;

fn social_client(app: &TestApp) -> TestClient {
    app.create_client(
        ClientType::Confidential,
        &[GrantType::ConvertToken, GrantType::TokenExchange, GrantType::RefreshToken, GrantType::Password],
    )
}

/// A provider's token converted the way the mobile SDKs send it, as JSON.
async fn convert(app: &TestApp, client: &TestClient, backend: &str, token: &str) -> reqwest::Response {
    app.convert_token(client).social(backend, token).json().send().await
}

async fn converted(app: &TestApp, client: &TestClient, backend: &str, token: &str) -> Value {
    app.convert_token(client).social(backend, token).json().ok().await
}

async fn google_access_token(social: &Social, token: &str, aud: &str, sub: &str, email: &str) {
    Mock::given(method("GET"))
        .and(path("/google/tokeninfo"))
        .and(query_param("access_token", token))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "aud": aud, "azp": aud, "sub": sub, "scope": "openid email profile",
            "exp": (portcullis::time::now() + 3000).to_string(), "expires_in": "3000",
            "email": email, "email_verified": "true",
        })))
        .mount(&social.providers)
        .await;
    Mock::given(method("GET"))
        .and(path("/google/userinfo"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sub": sub, "email": email, "email_verified": true, "given_name": "Grace", "family_name": "Hopper",
        })))
        .mount(&social.providers)
        .await;
}

both_backends! {
    // On SQLite the server admits a client it has seen from memory before the provider
    // check, and the issuing write confirms that no process changed applications since.
    async fn a_client_changed_by_another_process_is_refused_at_the_next_conversion(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let old = social_client(app);
        let token = || sign(&google_claims("g-2002", "grace@example.com", true), &GOOD);
        converted(app, &old, "google-oauth2", &token()).await;
        converted(app, &old, "google-oauth2", &token()).await;

        let output = app.cli(&["app", "rotate-secret", &old.id], None);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let printed = String::from_utf8(output.stdout).unwrap();
        let secret = printed.trim().strip_prefix("client_secret: ").expect("secret printed").to_owned();
        assert_oauth_error(convert(app, &old, "google-oauth2", &token()).await, 401, "invalid_client").await;
        let new = TestClient { id: old.id.clone(), secret: Some(secret) };
        converted(app, &new, "google-oauth2", &token()).await;

        // Changes made straight in the database, as an operator's SQL shell would: the
        // redirect URI of a code, then the grant, checked again in the issuing write.
        use diesel::prelude::*;
        use portcullis::store::schema::applications;
        let row = || applications::table.filter(applications::client_id.eq(&new.id));
        Mock::given(method("POST")).and(path("/google/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "ya29.from-code", "token_type": "Bearer", "expires_in": 3599, "id_token": token() })))
            .mount(&social.providers).await;
        let with_code = || app.convert_token(&new).grant("convert_token").param("backend", "google-oauth2")
            .param("code", "google-code").param("redirect_uri", "http://localhost:3000/callback").send();
        assert_eq!(with_code().await.status(), 200);
        let moved = diesel::update(row()).set(applications::redirect_uris.eq("http://localhost:3000/elsewhere"));
        assert_eq!(app.change_applications(|conn| moved.execute(conn)), 1);
        assert_oauth_error(with_code().await, 400, "invalid_request").await;

        converted(app, &new, "google-oauth2", &token()).await;
        let narrowed = diesel::update(row()).set(applications::grant_types.eq("password"));
        assert_eq!(app.change_applications(|conn| narrowed.execute(conn)), 1);
        assert_oauth_error(convert(app, &new, "google-oauth2", &token()).await, 400, "unauthorized_client").await;
        assert_eq!(user_count(app), 1);
    }

    async fn google_id_token_creates_a_user_once_and_signs_it_in(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        let token = sign(&google_claims("g-1001", "Ada@Example.com", true), &GOOD);
        let first = converted(app, &client, "google-oauth2", &token).await;
        assert_eq!(first["token_type"], "Bearer");
        assert!(text(&first, "refresh_token").starts_with("pc_rt_"));
        assert_eq!(first["user"]["email"], "ada@example.com");
        assert_eq!(first["user"]["first_name"], "Ada");
        let again = converted(app, &client, "google-oauth2", &sign(&google_claims("g-1001", "ada@example.com", true), &GOOD)).await;
        assert_eq!(again["user"]["id"], first["user"]["id"]);
        assert_eq!(user_count(app), 1);
        let me: Value = app.get_user(&text(&first, "access_token")).await.json().await.unwrap();
        assert_eq!(me["social"], json!([{ "provider": "google-oauth2", "uid": "g-1001" }]));
        // The same conversion through /auth/token.
        let through_token = app.token(&client).social("google-oauth2", &token).send().await;
        let body: Value = through_token.json().await.unwrap();
        assert_eq!(body["user"]["id"], first["user"]["id"]);
        // Each sign-in is in the audit log, with the provider and the client's address.
        use diesel::prelude::*;
        use portcullis::store::schema::audit_events as audit;
        let events: Vec<(Option<i64>, String, Option<String>)> = audit::table
            .filter(audit::action.eq("login.social"))
            .select((audit::actor_user_id, audit::detail, audit::ip))
            .load(&mut app.db())
            .unwrap();
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|(actor, detail, ip)| *actor == first["user"]["id"].as_i64()
            && detail == "google-oauth2" && ip.as_deref() == Some("127.0.0.1")));
        // ...and it is the user's last sign-in.
        use portcullis::store::schema::users;
        let last_login: Option<i64> = users::table.select(users::last_login).first(&mut app.db()).unwrap();
        assert!(last_login.is_some_and(|at| at > 0));
    }

    async fn google_access_token_is_checked_with_tokeninfo_and_userinfo(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        let client = social_client(app);
        google_access_token(&social, "ya29.mine", GOOGLE_IOS_ID, "g-2002", "grace@example.com").await;
        google_access_token(&social, "ya29.theirs", "someone-else.apps.googleusercontent.com", "g-2003", "x@example.com").await;
        let body = converted(app, &client, "google-oauth2", "ya29.mine").await;
        assert_eq!(body["user"]["email"], "grace@example.com");
        assert_eq!(body["user"]["last_name"], "Hopper");
        let refused = assert_oauth_error(convert(app, &client, "google-oauth2", "ya29.theirs").await, 400, "invalid_grant").await;
        assert!(text(&refused, "error_description").contains("another application"));
        assert!(!refused.to_string().contains("ya29"), "the token is echoed: {refused}");
        assert_eq!(user_count(app), 1);
    }

    async fn id_tokens_failing_a_check_are_refused_with_the_reason(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        // The first token fetches the keys; the unknown kid fetches them once more.
        serve_jwks(&social.providers, "/google/certs", 2).await;
        let client = social_client(app);
        let now = portcullis::time::now();
        let mut wrong_aud = google_claims("g-1", "a@example.com", true);
        wrong_aud["aud"] = json!("another-app.apps.googleusercontent.com");
        let mut expired = google_claims("g-1", "a@example.com", true);
        expired["exp"] = json!(now - 3600);
        expired["iat"] = json!(now - 7200);
        let mut wrong_iss = google_claims("g-1", "a@example.com", true);
        wrong_iss["iss"] = json!("https://evil.example.com");
        let cases = [
            (sign(&wrong_aud, &GOOD), "another application"),
            (sign(&expired, &GOOD), "expired"),
            (sign(&google_claims("g-1", "a@example.com", true), &Signing { kid: KID, other_key: true }), "signature"),
            (sign(&wrong_iss, &GOOD), "issuer"),
            (sign(&google_claims("g-1", "a@example.com", true), &Signing { kid: "unknown-kid", other_key: false }), "key"),
        ];
        for (token, reason) in cases {
            let body = assert_oauth_error(convert(app, &client, "google-oauth2", &token).await, 400, "invalid_grant").await;
            assert!(text(&body, "error_description").contains(reason), "{reason}: {body}");
        }
        assert_eq!(user_count(app), 0);
    }

    async fn cached_keys_verify_many_id_tokens_with_one_fetch(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        for n in 0..5 {
            let token = sign(&google_claims(&format!("g-{n}"), &format!("u{n}@example.com"), true), &GOOD);
            converted(app, &client, "google-oauth2", &token).await;
        }
        assert_eq!(user_count(app), 5);
    }

    async fn a_rotated_google_key_is_fetched_once_and_garbage_kids_are_not(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        let published = |keys: Value, times: u64| {
            Mock::given(method("GET"))
                .and(path("/google/certs"))
                .respond_with(ResponseTemplate::new(200).set_body_json(keys).insert_header("cache-control", "max-age=3600"))
                .up_to_n_times(1)
                .expect(times)
        };
        published(jwks(), 1).mount(&social.providers).await;
        published(jwks_with(&[(false, KID), (true, "rotated")]), 1).mount(&social.providers).await;
        let client = social_client(app);
        converted(app, &client, "google-oauth2", &sign(&google_claims("g-1", "a@example.com", true), &GOOD)).await;
        let rotated = Signing { kid: "rotated", other_key: true };
        converted(app, &client, "google-oauth2", &sign(&google_claims("g-1", "a@example.com", true), &rotated)).await;
        for garbage in ["garbage-1", "garbage-2", "garbage-3"] {
            let token = sign(&google_claims("g-1", "a@example.com", true), &Signing { kid: garbage, other_key: true });
            assert_oauth_error(convert(app, &client, "google-oauth2", &token).await, 400, "invalid_grant").await;
        }
    }

    async fn inactive_users_cannot_convert(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        let token = sign(&google_claims("g-off", "off@example.com", true), &GOOD);
        let body = converted(app, &client, "google-oauth2", &token).await;
        app.set_active(body["user"]["id"].as_i64().unwrap(), false);
        let refused = assert_oauth_error(convert(app, &client, "google-oauth2", &token).await, 400, "invalid_grant").await;
        assert!(text(&refused, "error_description").contains("disabled"));

        // A disabled password user's email, verified by Google: refused, and no link is left behind.
        let id = app.create_user("parked@example.com", PASSWORD).await;
        app.set_active(id, false);
        let token = sign(&google_claims("g-parked", "parked@example.com", true), &GOOD);
        assert_oauth_error(convert(app, &client, "google-oauth2", &token).await, 400, "invalid_grant").await;
        use diesel::prelude::*;
        use portcullis::store::schema::social_accounts as links;
        let count: i64 = links::table.filter(links::uid.eq("g-parked")).count().get_result(&mut app.db()).unwrap();
        assert_eq!(count, 0);
    }

    async fn a_returning_sign_in_updates_its_link_only_when_admitted(backend) {
        use diesel::prelude::*;
        use portcullis::store::schema::{audit_events as audit, social_accounts as links, users};
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        let with_picture = |picture: &str| {
            let mut claims = google_claims("g-back", "back@example.com", true);
            claims["picture"] = json!(picture);
            sign(&claims, &GOOD)
        };
        let picture = || {
            let extra: String =
                links::table.filter(links::uid.eq("g-back")).select(links::extra_data).first(&mut app.db()).unwrap();
            serde_json::from_str::<Value>(&extra).unwrap()["picture"].clone()
        };
        let with_scope = |token: String, scope: &str| {
            app.convert_token(&client).social("google-oauth2", &token).scope(scope).send()
        };
        let id = converted(app, &client, "google-oauth2", &with_picture("one.png")).await["user"]["id"].as_i64().unwrap();
        converted(app, &client, "google-oauth2", &with_picture("two.png")).await;
        assert_eq!(picture(), "two.png", "a returning user's changed profile is kept");

        // Refused sign-ins change nothing: the admin scope for a member, a disabled account.
        let refused = with_scope(with_picture("three.png"), "read admin").await;
        assert_oauth_error(refused, 400, "invalid_scope").await;
        app.set_active(id, false);
        assert_oauth_error(convert(app, &client, "google-oauth2", &with_picture("four.png")).await, 400, "invalid_grant").await;
        assert_eq!(picture(), "two.png");

        // Staff may ask for it.
        app.set_active(id, true);
        diesel::update(users::table.find(id)).set(users::is_staff.eq(true)).execute(&mut app.db()).unwrap();
        let staff = with_scope(with_picture("five.png"), "read admin").await;
        let body: Value = staff.json().await.unwrap();
        assert_eq!(body["scope"], "admin read", "{body}");
        assert_eq!(picture(), "five.png");
        let signed_in: i64 =
            audit::table.filter(audit::action.eq("login.social")).count().get_result(&mut app.db()).unwrap();
        assert_eq!(signed_in, 3, "refused sign-ins are not recorded as sign-ins");
    }

    async fn verified_email_links_to_the_password_user_and_unverified_is_refused(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        let ada = app.create_user("ada@example.com", PASSWORD).await;
        let grace = app.create_user("grace@example.com", PASSWORD).await;
        let linked = converted(app, &client, "google-oauth2", &sign(&google_claims("g-ada", "ADA@example.com", true), &GOOD)).await;
        assert_eq!(linked["user"]["id"], ada);
        let unverified = sign(&google_claims("g-grace", "grace@example.com", false), &GOOD);
        let body = assert_oauth_error(convert(app, &client, "google-oauth2", &unverified).await, 400, "invalid_grant").await;
        assert!(text(&body, "error_description").contains("verified"));
        assert_eq!(user_count(app), 2);
        // Google vouched for Ada's address, not for Grace's.
        let verified = |id: i64| portcullis::store::users::User::find(&mut app.db(), id).unwrap().unwrap().email_verified;
        assert!(verified(ada));
        assert!(!verified(grace));
        let created = converted(app, &client, "google-oauth2", &sign(&google_claims("g-new", "new@example.com", true), &GOOD)).await;
        assert!(verified(created["user"]["id"].as_i64().unwrap()), "a new account from a verified profile");
    }

    async fn a_google_link_keyed_by_email_is_rekeyed_to_sub_by_a_verified_sign_in(backend) {
        use portcullis::store::social::{NewSocialAccount, SocialAccount};
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        // As python-social-auth left them: Google links keyed by the email. Ada's account
        // address has changed since, and another account now has her old one.
        let ada = app.create_user("ada.lovelace@example.com", PASSWORD).await;
        let other = app.create_user("ada@example.com", PASSWORD).await;
        let grace = app.create_user("grace.hopper@example.com", PASSWORD).await;
        for (user_id, uid) in [(ada, "ada@example.com"), (grace, "grace@example.com")] {
            SocialAccount::insert(&mut portcullis::db::Writer::offline(&mut app.db()), &NewSocialAccount {
                user_id, provider: "google-oauth2", uid, extra_data: "{}", created_at: 1,
            }).unwrap();
        }
        let links_of = |id: i64| -> Vec<String> {
            SocialAccount::for_user(&mut app.db(), id).unwrap().into_iter().map(|l| l.uid).collect()
        };

        let first = converted(app, &client, "google-oauth2", &sign(&google_claims("g-ada", "Ada@example.com", true), &GOOD)).await;
        assert_eq!(first["user"]["id"], ada, "the link decides, not the account with that email");
        assert_eq!(links_of(ada), ["g-ada"]);
        let again = converted(app, &client, "google-oauth2", &sign(&google_claims("g-ada", "ada@example.com", true), &GOOD)).await;
        assert_eq!(again["user"]["id"], ada);
        assert!(links_of(other).is_empty());

        // An email Google did not verify proves nothing: the link stays as it was.
        let unverified = sign(&google_claims("g-grace", "grace@example.com", false), &GOOD);
        let created = converted(app, &client, "google-oauth2", &unverified).await;
        assert_ne!(created["user"]["id"], grace);
        assert_eq!(links_of(grace), ["grace@example.com"]);
    }

    async fn facebook_token_for_our_app_signs_in_with_appsecret_proof(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        let client = social_client(app);
        facebook_says(&social, "EAAB-mine", FACEBOOK_APP_ID,
            json!({ "id": "fb-77", "name": "Alan Turing", "email": "alan@example.com", "first_name": "Alan", "last_name": "Turing" })).await;
        facebook_says(&social, "EAAB-theirs", "999", json!({ "id": "fb-78", "name": "Eve" })).await;
        let body = converted(app, &client, "facebook", "EAAB-mine").await;
        assert_eq!(body["user"]["email"], "alan@example.com");
        assert_eq!(body["user"]["first_name"], "Alan");
        let refused = assert_oauth_error(convert(app, &client, "facebook", "EAAB-theirs").await, 400, "invalid_grant").await;
        assert!(text(&refused, "error_description").contains("another app"));
        assert_eq!(user_count(app), 1);
    }

    async fn facebook_user_without_email_is_still_created(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        let client = social_client(app);
        facebook_says(&social, "EAAB-noemail", FACEBOOK_APP_ID, json!({ "id": "fb-1", "name": "No Mail", "first_name": "No", "last_name": "Mail" })).await;
        let body = converted(app, &client, "facebook", "EAAB-noemail").await;
        assert!(body["user"]["email"].is_null());
        assert_eq!(body["user"]["last_name"], "Mail");
    }

    // A provider's answer is checked like a user's input: PostgreSQL cannot store NUL,
    // and sign-up would refuse such an email or a 10,000-character name.
    async fn provider_profiles_are_stored_only_as_sign_up_would_accept_them(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        let client = social_client(app);
        let long = "N".repeat(10_000);
        facebook_says(&social, "EAAB-odd", FACEBOOK_APP_ID,
            json!({ "id": "fb-odd", "email": "a\u{0}b@example.com", "first_name": long, "last_name": "\u{0}Lovelace\u{7}" })).await;
        let body = converted(app, &client, "facebook", "EAAB-odd").await;
        assert!(body["user"]["email"].is_null(), "{body}");
        assert_eq!(body["user"]["first_name"], "N".repeat(150));
        assert_eq!(body["user"]["last_name"], "Lovelace");
        facebook_says(&social, "EAAB-bad-id", FACEBOOK_APP_ID, json!({ "id": "fb-\u{0}", "email": "ok@example.com" })).await;
        assert_oauth_error(convert(app, &client, "facebook", "EAAB-bad-id").await, 400, "invalid_grant").await;
        assert_eq!(user_count(app), 1);
    }

    async fn apple_id_token_with_string_email_verified_signs_in(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/apple/keys", 1).await;
        let client = social_client(app);
        let mut claims = apple_claims("apple-001", "hidden@privaterelay.appleid.com");
        claims["nonce"] = json!(portcullis::tokens::random::sha256_hex("n-123"));
        let token = sign(&claims, &GOOD);
        let with_nonce =
            |nonce: &str| app.convert_token(&client).social("apple-id", &token).param("nonce", nonce).json().send();

        let response = with_nonce("n-123").await;
        let another = with_nonce("another nonce").await;

        assert_eq!(response.status(), 200);
        let converted: Value = response.json().await.unwrap();
        assert_eq!(converted["user"]["email"], "hidden@privaterelay.appleid.com");
        assert_oauth_error(another, 400, "invalid_grant").await;
    }

    async fn provider_down_or_slow_is_503_and_writes_nothing(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        let client = social_client(app);
        Mock::given(method("GET")).and(path("/google/tokeninfo"))
            .respond_with(ResponseTemplate::new(502))
            .mount(&social.providers).await;
        Mock::given(method("GET")).and(path("/facebook/debug_token"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(3000)).set_body_json(json!({})))
            .mount(&social.providers).await;
        assert_oauth_error(convert(app, &client, "google-oauth2", "ya29.any").await, 503, "temporarily_unavailable").await;
        let started = std::time::Instant::now();
        assert_oauth_error(convert(app, &client, "facebook", "EAAB-slow").await, 503, "temporarily_unavailable").await;
        assert!(started.elapsed() < Duration::from_millis(2500), "timeout not applied: {:?}", started.elapsed());
        assert_eq!(user_count(app), 0);
    }

    async fn authorization_codes_are_exchanged_with_our_secret(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        let id_token = sign(&google_claims("g-code", "code@example.com", true), &GOOD);
        Mock::given(method("POST")).and(path("/google/token"))
            .and(body_string_contains("code=google-code"))
            .and(body_string_contains("client_secret=google-client-secret"))
            .and(body_string_contains("code_verifier=verifier-123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "ya29.from-code", "token_type": "Bearer", "expires_in": 3599, "id_token": id_token })))
            .expect(1)
            .mount(&social.providers).await;
        Mock::given(method("POST")).and(path("/facebook/oauth/access_token"))
            .and(body_string_contains("code=facebook-code"))
            .and(body_string_contains(format!("client_secret={FACEBOOK_SECRET}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "EAAB-from-code", "token_type": "bearer", "expires_in": 5183944 })))
            .expect(1)
            .mount(&social.providers).await;
        facebook_says(&social, "EAAB-from-code", FACEBOOK_APP_ID, json!({ "id": "fb-code", "email": "fbcode@example.com" })).await;

        let redirect = "http://localhost:3000/callback";
        let google = app.convert_token(&client).grant("convert_token").param("backend", "google-oauth2")
            .param("code", "google-code").param("redirect_uri", redirect)
            .param("code_verifier", "verifier-123").send().await;
        // No grant_type: the endpoint implies convert_token.
        let facebook = |redirect_uri: &str| app.convert_token(&client).param("backend", "facebook")
            .param("code", "facebook-code").param("redirect_uri", redirect_uri).send();

        let body: Value = google.json().await.unwrap();
        assert_eq!(body["user"]["email"], "code@example.com", "{body}");
        let body: Value = facebook(redirect).await.json().await.unwrap();
        assert_eq!(body["user"]["email"], "fbcode@example.com", "{body}");
        assert_oauth_error(facebook("http://evil.example/cb").await, 400, "invalid_request").await;
    }

    async fn token_exchange_form_answers_with_the_issued_token_type(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        let id_token = sign(&google_claims("g-x", "x@example.com", true), &GOOD);
        let exchange = |subject_token: &str, subject_token_type: &str| {
            app.token(&client)
                .grant("urn:ietf:params:oauth:grant-type:token-exchange")
                .param("subject_token", subject_token)
                .param("subject_token_type", subject_token_type)
                .param("subject_issuer", "google-oauth2")
                .send()
        };

        let response = exchange(&id_token, "urn:ietf:params:oauth:token-type:id_token").await;

        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
        assert_eq!(app.user_status(&text(&body, "access_token")).await, 200);
        let saml = exchange(&id_token, "urn:ietf:params:oauth:token-type:saml2").await;
        assert_oauth_error(saml, 400, "invalid_request").await;
        // A value that cannot be an ID token is not quietly checked as an access token.
        let not_an_id_token =
            exchange("ya29.an-access-token", "urn:ietf:params:oauth:token-type:id_token").await;
        let refused = assert_oauth_error(not_an_id_token, 400, "invalid_request").await;
        assert!(text(&refused, "error_description").contains("ID token"), "{refused}");
        assert_eq!(user_count(app), 1);
    }

    async fn unknown_backends_and_disallowed_grants_are_refused(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        let client = social_client(app);
        assert_oauth_error(convert(app, &client, "myspace", "token").await, 400, "invalid_request").await;
        let password_only = app.create_client(ClientType::Confidential, &[GrantType::Password]);
        assert_oauth_error(convert(app, &password_only, "facebook", "token").await, 400, "unauthorized_client").await;
        // A provider that is not configured is an unknown backend.
        let plain = crate::helpers::spawn_app(backend).await;
        let client = social_client(&plain);
        assert_oauth_error(convert(&plain, &client, "google-oauth2", "token").await, 400, "invalid_request").await;
    }

    async fn disconnect_refuses_to_remove_the_last_way_in(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        let body = converted(app, &client, "google-oauth2", &sign(&google_claims("g-d", "d@example.com", true), &GOOD)).await;
        let access = text(&body, "access_token");
        let disconnect = || app.http.post(app.url("/auth/disconnect-backend")).bearer_auth(&access)
            .form(&[("backend", "google-oauth2")]).send();
        assert_oauth_error(disconnect().await.unwrap(), 400, "invalid_request").await;
        let set = app.http.post(app.url("/auth/password")).bearer_auth(&access)
            .json(&json!({ "new_password": "a password of my own" })).send().await.unwrap();
        assert_eq!(set.status(), 204);
        assert_eq!(disconnect().await.unwrap().status(), 204);
        let me: Value = app.get_user(&access).await.json().await.unwrap();
        assert_eq!(me["social"], json!([]));
        app.token(&client).password("d@example.com", "a password of my own").ok().await;
    }

    async fn concurrent_first_sign_ins_create_one_user(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = social_client(app);
        let token = sign(&google_claims("g-race", "race@example.com", true), &GOOD);
        let attempts = (0..8).map(|_| convert(app, &client, "google-oauth2", &token));
        let responses = futures::future::join_all(attempts).await;
        let mut ids = Vec::new();
        for response in responses {
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            ids.push(body["user"]["id"].clone());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(user_count(app), 1);
    }
}
