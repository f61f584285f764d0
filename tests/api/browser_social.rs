//! Signing in at Google (or Facebook) through the authorization endpoint's page, against
//! a fake provider: the redirect, the callback, the code exchange and our own code.

use base64::Engine;
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::both_backends;
use crate::browser::{authorize_path, exchange, param, pkce, public_client, Page, Visitor, REDIRECT};
use crate::helpers::{text, Backend, TestClient};
use crate::social_helpers::*;

const SECRET_KEY: &str = "browser-social-test-secret-key-0123456789";

async fn spawn(backend: Backend) -> Social {
    spawn_social_with(backend, |s| {
        s.set("PORTCULLIS_SECRET_KEY", SECRET_KEY);
    })
    .await
}

/// The sign-in page's "Continue with ..." link for `backend`, as a path.
fn provider_link(page: &Page, backend: &str) -> String {
    let marker = format!(r#"href="/auth/login/{backend}?"#);
    let start = page.body.find(&marker).unwrap_or_else(|| panic!("no {backend} link in {}", page.body)) + 6;
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].replace("&#38;", "&").replace("&amp;", "&")
}

/// Where we sent the browser at the provider, checked against `auth_path`.
fn provider_redirect(page: &Page, social: &Social, auth_path: &str) -> Vec<(String, String)> {
    let expected = format!("{}{auth_path}", social.providers.uri());
    page.redirect_params(&expected)
}

/// Opens the authorization request and follows the Google link; returns the query
/// sent to Google.
async fn go_to_google(
    visitor: &mut Visitor<'_>,
    social: &Social,
    client: &TestClient,
) -> Vec<(String, String)> {
    let (_, challenge) = pkce();
    let page = visitor.get(&authorize_path(client, REDIRECT, Some(&challenge))).await;
    assert!(page.body.contains("Continue with Google") && page.body.contains("Continue with Facebook"));
    let link = provider_link(&page, "google-oauth2");
    provider_redirect(&visitor.get(&link).await, social, "/google/auth")
}

async fn google_token_endpoint(social: &Social, body: Value, status: u16) {
    Mock::given(method("POST"))
        .and(path("/google/token"))
        .and(body_string_contains("code=google-code"))
        .and(body_string_contains("client_secret=google-client-secret"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&social.providers)
        .await;
}

fn token_requests_to_google(received: &[wiremock::Request]) -> Vec<Vec<(String, String)>> {
    received
        .iter()
        .filter(|r| r.url.path() == "/google/token")
        .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
        .collect()
}

both_backends! {
    async fn google_redirect_sign_in_ends_with_our_code(backend) {
        let social = spawn(backend).await;
        let app = &social.app;
        let client = public_client(app);
        let (verifier, challenge) = pkce();
        let authorize = authorize_path(&client, REDIRECT, Some(&challenge));
        let mut visitor = Visitor::new(app);

        let page = visitor.get(&authorize).await;
        let link = provider_link(&page, "google-oauth2");
        let to_google = provider_redirect(&visitor.get(&link).await, &social, "/google/auth");
        assert_eq!(param(&to_google, "client_id"), Some(GOOGLE_WEB_ID));
        assert_eq!(param(&to_google, "response_type"), Some("code"));
        assert_eq!(param(&to_google, "access_type"), Some("offline"));
        assert_eq!(param(&to_google, "prompt"), Some("select_account"));
        assert_eq!(param(&to_google, "code_challenge_method"), Some("S256"));
        let scope = param(&to_google, "scope").unwrap();
        assert!(scope.split(' ').any(|s| s == "openid") && scope.contains("email"), "{scope}");
        let redirect_uri = param(&to_google, "redirect_uri").unwrap().to_owned();
        assert!(redirect_uri.ends_with("/auth/complete/google-oauth2"), "{redirect_uri}");
        let state = param(&to_google, "state").unwrap().to_owned();
        let nonce = param(&to_google, "nonce").unwrap().to_owned();
        let google_challenge = param(&to_google, "code_challenge").unwrap().to_owned();
        assert!(state.len() >= 32);

        serve_jwks(&social.providers, "/google/certs", 1).await;
        let mut claims = google_claims("g-500", "grace@example.com", true);
        claims["nonce"] = json!(nonce);
        let id_token = sign(&claims, &GOOD);
        google_token_endpoint(&social, json!({
            "access_token": "ya29.google-access", "token_type": "Bearer", "expires_in": 3599,
            "refresh_token": "1//google-refresh", "id_token": id_token, "scope": "openid email profile",
        }), 200).await;

        let back = visitor.get(&format!("/auth/complete/google-oauth2?state={state}&code=google-code")).await;
        assert_eq!(back.status, 303, "{}", back.body);
        let resume = back.location.clone().unwrap();
        assert_eq!(resume, authorize, "the pending authorization request resumes");

        let consent = visitor.get(&resume).await;
        assert!(consent.is_consent(), "{}", consent.body);
        assert!(consent.body.contains("grace@example.com"));
        let done = visitor.post(&resume, &[("csrf_token", &consent.csrf()), ("allow", "1")]).await;
        let params = done.redirect_params(REDIRECT);
        assert_eq!(param(&params, "state"), Some("xyz-123"));
        let response = exchange(app, &client, param(&params, "code").unwrap(), &verifier).await;
        assert_eq!(response.status(), 200);
        let tokens: Value = response.json().await.unwrap();
        let user: Value = app.get_user(&text(&tokens, "access_token")).await.json().await.unwrap();
        assert_eq!(user["email"], "grace@example.com");

        // Google got our PKCE verifier for the challenge it was shown, and the same redirect_uri.
        let received = social.providers.received_requests().await.unwrap();
        let exchanges = token_requests_to_google(&received);
        assert_eq!(exchanges.len(), 1);
        let sent_verifier = param(&exchanges[0], "code_verifier").expect("code_verifier sent to Google");
        let digest = Sha256::digest(sent_verifier.as_bytes());
        assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest), google_challenge);
        assert_eq!(param(&exchanges[0], "redirect_uri"), Some(redirect_uri.as_str()));

        // Google's refresh token is kept, sealed under the secret key, never in clear.
        use diesel::prelude::*;
        use portcullis::store::schema::social_accounts as links;
        let (uid, sealed): (String, Option<String>) = links::table
            .select((links::uid, links::provider_refresh_token))
            .get_result(&mut app.db())
            .unwrap();
        let sealed = sealed.expect("refresh token kept");
        assert!(!sealed.contains("google-refresh"));
        let context = portcullis::tokens::sealed::link_context("google-oauth2", &uid);
        let opened = portcullis::tokens::sealed::open(&SecretString::from(SECRET_KEY), &context, &sealed);
        assert_eq!(opened.as_deref(), Some("1//google-refresh"));

        // The state was single-use: the same callback again changes nothing.
        let replay = visitor.get(&format!("/auth/complete/google-oauth2?state={state}&code=google-code")).await;
        assert_eq!(replay.location, None);
        assert_eq!(token_requests_to_google(&social.providers.received_requests().await.unwrap()).len(), 1);
    }

    async fn a_forged_or_foreign_state_is_refused(backend) {
        let social = spawn(backend).await;
        let app = &social.app;
        let client = public_client(app);
        google_token_endpoint(&social, json!({ "access_token": "never" }), 200).await;
        let mut visitor = Visitor::new(app);
        let to_google = go_to_google(&mut visitor, &social, &client).await;
        let state = param(&to_google, "state").unwrap().to_owned();

        let forged = visitor.get("/auth/complete/google-oauth2?state=forged-state-value&code=google-code").await;
        assert_eq!(forged.status, 400);
        assert_eq!(forged.location, None);
        assert!(forged.is_sign_in(), "back to the sign-in page: {}", forged.body);
        assert!(forged.body.contains("could not be matched"), "{}", forged.body);

        // The right state from another browser (the victim of a login-CSRF attempt).
        let mut other = Visitor::new(app);
        let foreign = other.get(&format!("/auth/complete/google-oauth2?state={state}&code=google-code")).await;
        assert_eq!((foreign.status, foreign.location), (400, None));

        let missing = visitor.get("/auth/complete/google-oauth2?code=google-code").await;
        assert_eq!((missing.status, missing.location), (400, None));

        let received = social.providers.received_requests().await.unwrap();
        assert!(token_requests_to_google(&received).is_empty(), "no code was exchanged");
        assert_eq!(user_count(app), 0);
    }

    async fn a_provider_error_returns_to_the_sign_in_page(backend) {
        let social = spawn(backend).await;
        let app = &social.app;
        let client = public_client(app);
        let mut visitor = Visitor::new(app);
        let to_google = go_to_google(&mut visitor, &social, &client).await;
        let state = param(&to_google, "state").unwrap();

        let page = visitor
            .get(&format!("/auth/complete/google-oauth2?state={state}&error=access_denied&error_description=The+user+cancelled"))
            .await;
        assert_eq!(page.status, 400);
        assert!(page.is_sign_in(), "{}", page.body);
        assert!(page.body.contains("The user cancelled") && page.body.contains("access_denied"), "{}", page.body);
        assert_eq!(user_count(app), 0);
        assert!(visitor.get(&authorize_path(&client, REDIRECT, Some("x".repeat(43).as_str()))).await.is_sign_in(), "not signed in");
    }

    async fn a_failed_code_exchange_changes_nothing(backend) {
        let social = spawn(backend).await;
        let app = &social.app;
        let client = public_client(app);
        google_token_endpoint(&social, json!({ "error": "invalid_grant", "error_description": "Bad code" }), 400).await;
        let mut visitor = Visitor::new(app);
        let to_google = go_to_google(&mut visitor, &social, &client).await;
        let state = param(&to_google, "state").unwrap();
        let page = visitor.get(&format!("/auth/complete/google-oauth2?state={state}&code=google-code")).await;
        assert_eq!(page.status, 400);
        assert!(page.is_sign_in() && page.body.contains("did not work"), "{}", page.body);
        assert_eq!(user_count(app), 0);
    }

    async fn facebook_redirect_sign_in_links_by_verified_email(backend) {
        let social = spawn(backend).await;
        let app = &social.app;
        let client = public_client(app);
        let existing = app.create_user("alan@example.com", crate::helpers::PASSWORD).await;
        let (_, challenge) = pkce();
        let mut visitor = Visitor::new(app);
        let page = visitor.get(&authorize_path(&client, REDIRECT, Some(&challenge))).await;
        let to_facebook =
            provider_redirect(&visitor.get(&provider_link(&page, "facebook")).await, &social, "/facebook/dialog");
        assert_eq!(param(&to_facebook, "client_id"), Some(FACEBOOK_APP_ID));
        assert_eq!(param(&to_facebook, "scope"), Some("email,public_profile"));
        let state = param(&to_facebook, "state").unwrap();

        Mock::given(method("POST"))
            .and(path("/facebook/oauth/access_token"))
            .and(body_string_contains("code=facebook-code"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "access_token": "EAAB-browser", "token_type": "bearer" })))
            .mount(&social.providers)
            .await;
        facebook_says(&social, "EAAB-browser", FACEBOOK_APP_ID, json!({ "id": "fb-9", "email": "alan@example.com", "first_name": "Alan" })).await;

        let back = visitor.get(&format!("/auth/complete/facebook?state={state}&code=facebook-code")).await;
        assert_eq!(back.status, 303, "{}", back.body);
        let consent = visitor.get(back.location.as_deref().unwrap()).await;
        assert!(consent.is_consent() && consent.body.contains("alan@example.com"), "{}", consent.body);
        use diesel::prelude::*;
        use portcullis::store::schema::social_accounts as links;
        let owner: i64 = links::table.select(links::user_id).get_result(&mut app.db()).unwrap();
        assert_eq!(owner, existing, "linked to the existing account");
        assert_eq!(user_count(app), 1);
    }

    async fn an_unconfigured_backend_is_not_found(backend) {
        let app = crate::helpers::spawn_app(backend).await;
        let client = public_client(&app);
        let (_, challenge) = pkce();
        let mut visitor = Visitor::new(&app);
        let page = visitor.get(&authorize_path(&client, REDIRECT, Some(&challenge))).await;
        assert!(!page.body.contains("/auth/login/"), "no provider links without providers");
        let query = Url::parse(&app.url(&authorize_path(&client, REDIRECT, Some(&challenge)))).unwrap();
        let missing = visitor.get(&format!("/auth/login/google-oauth2?{}", query.query().unwrap())).await;
        assert_eq!((missing.status, missing.location), (404, None));
    }
}
