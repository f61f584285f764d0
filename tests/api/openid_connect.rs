//! SPEC §13 with a real OpenID Connect relying party (the `openidconnect` crate) as the
//! client: discovery, an authorization URL with nonce and PKCE, the code exchange, ID
//! token verification against our JWKS, and userinfo; then EdDSA per application,
//! `prompt`, `max_age`, `login_hint`, RP-initiated logout, refresh, and the other grants.

use std::future::Future;
use std::pin::Pin;

use base64::Engine;
use diesel::prelude::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis::domain::{ClientType, GrantType};
use portcullis::store::schema::applications;
use serde_json::Value;

use crate::both_backends;
use crate::browser::{param, Page, Visitor, REDIRECT};
use crate::helpers::{assert_oauth_error, spawn_app, text, TestApp, TestClient, PASSWORD};

const EMAIL: &str = "oidc@example.com";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

type HttpFuture = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>>>>;

/// The relying party's HTTP client: ours (reqwest 0.13), adapted to the crate's trait.
fn http(app: &TestApp) -> impl Fn(openidconnect::HttpRequest) -> HttpFuture + '_ {
    move |request| {
        let client = app.http.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let fail = |e: &dyn std::fmt::Display| HttpError(e.to_string());
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| fail(&e))?;
            let mut answer = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = response.bytes().await.map_err(|e| fail(&e))?;
            answer.body(body.to_vec()).map_err(|e| fail(&e))
        })
    }
}

/// A confidential client for the code flow (and password, refresh), and its user with a name.
async fn client_and_user(app: &TestApp) -> (TestClient, i64) {
    let client = app.create_client(
        ClientType::Confidential,
        &[GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Password],
    );
    let id = app.create_user(EMAIL, PASSWORD).await;
    let tokens = app.sign_in(&client, EMAIL).await;
    let named = app
        .http
        .patch(app.url("/auth/user"))
        .bearer_auth(text(&tokens, "access_token"))
        .json(&serde_json::json!({ "first_name": "Ada", "last_name": "Lovelace" }))
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 200);
    (client, id)
}

type Rp = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The relying party, configured from our discovery document alone.
async fn relying_party(app: &TestApp, client: &TestClient) -> Rp {
    relying_party_at(app, client, REDIRECT).await
}

async fn relying_party_at(app: &TestApp, client: &TestClient, redirect_uri: &str) -> Rp {
    let issuer = IssuerUrl::new(app.address.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http(app)).await.expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.into()).unwrap())
}

/// An authorization request as the relying party builds it, with `extra` parameters.
fn authorization(
    rp: &Rp,
    extra: &[(&str, &str)],
) -> (String, Nonce, openidconnect::PkceCodeVerifier, CsrfToken) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    for (key, value) in extra {
        request = request.add_extra_param(*key, *value);
    }
    let (url, state, nonce) = request.url();
    (format!("{}?{}", url.path(), url.query().unwrap_or_default()), nonce, verifier, state)
}

/// Where a page's form posts: the consent form of a request whose sign-in was just made no
/// longer carries `prompt=login` or `max_age`.
fn form_action(page: &Page) -> String {
    let marker = r#"<form method="post" action=""#;
    let start = page.body.find(marker).unwrap_or_else(|| panic!("no form in {}", page.body)) + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].replace("&amp;", "&").replace("&#38;", "&")
}

/// Signs in on `authorize`'s page, allows, and returns the code.
async fn code(visitor: &mut Visitor<'_>, authorize: &str, state: &CsrfToken) -> String {
    let consent = visitor.sign_in(authorize, EMAIL, PASSWORD).await;
    assert!(consent.is_consent(), "{}", consent.body);
    allow(visitor, &consent, state).await
}

async fn allow(visitor: &mut Visitor<'_>, consent: &Page, state: &CsrfToken) -> String {
    let done = visitor.post(&form_action(consent), &[("csrf_token", &consent.csrf()), ("allow", "1")]).await;
    let params = done.redirect_params(REDIRECT);
    assert_eq!(param(&params, "state"), Some(state.secret().as_str()));
    param(&params, "code").expect("a code").to_owned()
}

async fn exchange(
    app: &TestApp,
    rp: &Rp,
    code: String,
    verifier: openidconnect::PkceCodeVerifier,
) -> CoreTokenResponse {
    rp.exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http(app))
        .await
        .expect("the code exchange")
}

/// The ID token's payload as JSON, for the claims the crate does not expose (`sid`).
fn payload(id_token: &CoreIdToken) -> Value {
    let text = id_token.to_string();
    let part = text.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn header_alg(id_token: &CoreIdToken) -> String {
    let text = id_token.to_string();
    let part = text.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap())
            .unwrap();
    header["alg"].as_str().unwrap().to_owned()
}

/// Verifies the response's ID token as the relying party does, and its `at_hash`.
fn verified_claims<'t>(
    rp: &Rp,
    tokens: &'t CoreTokenResponse,
    nonce: Option<&Nonce>,
    alg: &CoreJwsSigningAlgorithm,
) -> &'t CoreIdTokenClaims {
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp.id_token_verifier().set_allowed_algs(vec![alg.clone()]);
    let claims = match nonce {
        Some(nonce) => id_token.claims(&verifier, nonce),
        None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    }
    .expect("the ID token verifies");
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash binds the access token");
    claims
}

fn set_alg(app: &TestApp, client: &TestClient, alg: &str) {
    let id = client.id.clone();
    let alg = alg.to_owned();
    app.change_applications(move |conn| {
        diesel::update(applications::table.filter(applications::client_id.eq(id)))
            .set(applications::id_token_signed_response_alg.eq(alg))
            .execute(conn)
    });
}

both_backends! {
    async fn a_relying_party_signs_a_user_in_and_checks_every_claim(backend) {
        let app = spawn_app(backend).await;
        let (client, user_id) = client_and_user(&app).await;
        let rp = relying_party(&app, &client).await;
        let (authorize, nonce, verifier, state) = authorization(&rp, &[]);
        let mut visitor = Visitor::new(&app);
        let before = portcullis::time::now();
        let code = code(&mut visitor, &authorize, &state).await;
        let tokens = exchange(&app, &rp, code, verifier).await;

        assert_eq!(header_alg(tokens.id_token().unwrap()), "RS256", "RS256 by default");
        let claims = verified_claims(&rp, &tokens, Some(&nonce), &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
        assert_eq!(claims.issuer().as_str(), app.address);
        assert_eq!(claims.subject().as_str(), user_id.to_string());
        assert_eq!(claims.audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(), [client.id.as_str()]);
        assert_eq!(claims.nonce().map(|n| n.secret()), Some(nonce.secret()));
        let auth_time = claims.auth_time().expect("auth_time").timestamp();
        assert!(auth_time >= before && auth_time <= portcullis::time::now(), "the sign-in's time");
        assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
        assert_eq!(claims.email_verified(), Some(false));
        assert_eq!(claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Ada Lovelace"));
        assert_eq!(claims.given_name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Ada"));
        assert_eq!(claims.family_name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Lovelace"));
        assert_eq!(claims.preferred_username().map(|n| n.as_str()), Some("oidc"));
        assert!(claims.updated_at().is_some_and(|t| t.timestamp() >= before));
        let raw = payload(tokens.id_token().unwrap());
        assert!(raw["sid"].as_str().is_some_and(|sid| !sid.is_empty()), "{raw}");
        assert!(raw["exp"].as_i64().unwrap() > raw["iat"].as_i64().unwrap());

        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
            .unwrap()
            .request_async(&http(&app))
            .await
            .expect("userinfo");
        assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));
        assert_eq!(info.preferred_username().map(|n| n.as_str()), Some("oidc"));

        // The scope decides the claims: a token without `email` gets none of them.
        let narrow = app.token(&client).password(EMAIL, PASSWORD).scope("openid profile").ok().await;
        let info: Value = app
            .http
            .post(app.url("/auth/userinfo"))
            .bearer_auth(text(&narrow, "access_token"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["sub"], user_id.to_string());
        assert_eq!(info["given_name"], "Ada");
        assert!(info.get("email").is_none(), "{info}");
        let nobody = app.http.get(app.url("/auth/userinfo")).send().await.unwrap();
        assert_eq!(nobody.status(), 401);
    }

    async fn an_application_may_ask_for_eddsa_id_tokens(backend) {
        let app = spawn_app(backend).await;
        let (client, _) = client_and_user(&app).await;
        set_alg(&app, &client, "EdDSA");
        let rp = relying_party(&app, &client).await;
        let (authorize, nonce, verifier, state) = authorization(&rp, &[]);
        let code = code(&mut Visitor::new(&app), &authorize, &state).await;
        let tokens = exchange(&app, &rp, code, verifier).await;
        assert_eq!(header_alg(tokens.id_token().unwrap()), "EdDSA");
        let claims = verified_claims(&rp, &tokens, Some(&nonce), &CoreJwsSigningAlgorithm::EdDsa);
        assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
        // The JWKS publishes both keys, each with its own kid.
        let jwks: Value = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
        algs.sort_unstable();
        assert_eq!(algs, ["EdDSA", "RS256"]);
        assert_ne!(keys[0]["kid"], keys[1]["kid"]);
    }

    async fn prompt_none_answers_without_a_page(backend) {
        let app = spawn_app(backend).await;
        let (client, _) = client_and_user(&app).await;
        let rp = relying_party(&app, &client).await;
        let mut visitor = Visitor::new(&app);

        let (authorize, _, _, state) = authorization(&rp, &[("prompt", "none")]);
        let params = visitor.get(&authorize).await.redirect_params(REDIRECT);
        assert_eq!(param(&params, "error"), Some("login_required"));
        assert_eq!(param(&params, "state"), Some(state.secret().as_str()));

        // Signed in, but the application has not been approved: consent is a page too.
        let (authorize, _, _, state) = authorization(&rp, &[]);
        code(&mut visitor, &authorize, &state).await;
        let (authorize, _, _, _) = authorization(&rp, &[("prompt", "none")]);
        let params = visitor.get(&authorize).await.redirect_params(REDIRECT);
        assert_eq!(param(&params, "error"), Some("consent_required"));

        // An application that skips consent gets its code from the session, silently.
        app.change_applications(|conn| {
            diesel::update(applications::table).set(applications::skip_authorization.eq(true)).execute(conn)
        });
        let (authorize, nonce, verifier, _) = authorization(&rp, &[("prompt", "none")]);
        let params = visitor.get(&authorize).await.redirect_params(REDIRECT);
        let tokens = exchange(&app, &rp, param(&params, "code").expect("a code").to_owned(), verifier).await;
        verified_claims(&rp, &tokens, Some(&nonce), &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    }

    async fn max_age_and_prompt_login_ask_for_a_new_sign_in(backend) {
        let app = spawn_app(backend).await;
        let (client, _) = client_and_user(&app).await;
        let rp = relying_party(&app, &client).await;
        let mut visitor = Visitor::new(&app);
        let (authorize, _, _, state) = authorization(&rp, &[]);
        code(&mut visitor, &authorize, &state).await;
        // The session is a second old at least, so max_age=0 sets it aside.
        {
            use portcullis::store::schema::browser_sessions;
            diesel::update(browser_sessions::table)
                .set(browser_sessions::created_at.eq(portcullis::time::now() - 60))
                .execute(&mut app.db())
                .unwrap();
        }
        let signed_in_at = portcullis::time::now();

        for extra in [("max_age", "30"), ("prompt", "login")] {
            let (authorize, nonce, verifier, state) = authorization(&rp, &[extra, ("login_hint", EMAIL)]);
            let page = visitor.get(&authorize).await;
            assert!(page.is_sign_in(), "{extra:?} shows the sign-in page: {}", page.body);
            assert_eq!(page.username_value(), EMAIL, "login_hint fills the form");
            let code = code(&mut visitor, &authorize, &state).await;
            let tokens = exchange(&app, &rp, code, verifier).await;
            let claims = verified_claims(&rp, &tokens, Some(&nonce), &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
            assert!(claims.auth_time().unwrap().timestamp() >= signed_in_at, "{extra:?}: the new sign-in's time");
        }
        // A session young enough is taken as it is.
        let (authorize, _, _, _) = authorization(&rp, &[("max_age", "3600")]);
        assert!(visitor.get(&authorize).await.is_consent());
    }

    async fn refresh_keeps_the_subject_and_the_sign_in_time(backend) {
        let app = spawn_app(backend).await;
        let (client, user_id) = client_and_user(&app).await;
        let rp = relying_party(&app, &client).await;
        let (authorize, nonce, verifier, state) = authorization(&rp, &[]);
        let code = code(&mut Visitor::new(&app), &authorize, &state).await;
        let first = exchange(&app, &rp, code, verifier).await;
        let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let signed_in = verified_claims(&rp, &first, Some(&nonce), &alg).auth_time().unwrap();

        let refreshed = rp
            .exchange_refresh_token(first.refresh_token().unwrap())
            .unwrap()
            .request_async(&http(&app))
            .await
            .expect("refresh");
        let claims = verified_claims(&rp, &refreshed, None, &alg);
        assert_eq!(claims.subject().as_str(), user_id.to_string());
        assert_eq!(claims.auth_time(), Some(signed_in));
        assert!(claims.nonce().is_none(), "a refreshed ID token has no nonce");
        assert_eq!(payload(refreshed.id_token().unwrap())["sid"], payload(first.id_token().unwrap())["sid"]);
    }

    async fn the_password_grant_with_openid_returns_a_verifiable_id_token(backend) {
        let app = spawn_app(backend).await;
        let (client, user_id) = client_and_user(&app).await;
        let rp = relying_party(&app, &client).await;
        let without = app.sign_in(&client, EMAIL).await;
        assert!(without.get("id_token").is_none(), "no openid, no ID token");

        let tokens: CoreTokenResponse = serde_json::from_value(
            app.token(&client).password(EMAIL, PASSWORD).scope("openid email").ok().await,
        )
        .unwrap();
        let claims = verified_claims(&rp, &tokens, None, &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
        assert_eq!(claims.subject().as_str(), user_id.to_string());
        assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
        assert!(claims.given_name().is_none(), "no profile scope, no names");
    }

    async fn convert_token_with_openid_returns_a_verifiable_id_token(backend) {
        use crate::social_helpers::{google_claims, serve_jwks, sign, spawn_social, GOOD};
        let social = spawn_social(backend).await;
        let app = &social.app;
        serve_jwks(&social.providers, "/google/certs", 1).await;
        let client = app.create_client(ClientType::Confidential, &[GrantType::ConvertToken]);
        let rp = relying_party(app, &client).await;
        let google = sign(&google_claims("g-oidc", "grace@example.com", true), &GOOD);
        // A new user, then the same user returning (two paths through the grant).
        let mut subjects = Vec::new();
        for _ in 0..2 {
            let answer = app.convert_token(&client).social("google-oauth2", &google).scope("openid email profile").ok().await;
            let tokens: CoreTokenResponse = serde_json::from_value(answer.clone()).unwrap();
            let claims = verified_claims(&rp, &tokens, None, &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
            assert_eq!(claims.subject().as_str(), answer["user"]["id"].as_i64().unwrap().to_string());
            assert_eq!(claims.email().map(|e| e.as_str()), Some("grace@example.com"));
            assert_eq!(claims.email_verified(), Some(true), "Google verified it");
            assert_eq!(claims.given_name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Ada"));
            subjects.push(claims.subject().as_str().to_owned());
        }
        assert_eq!(subjects[0], subjects[1]);
    }

    async fn logout_returns_only_to_a_registered_uri(backend) {
        let app = spawn_app(backend).await;
        let (client, _) = client_and_user(&app).await;
        let rp = relying_party(&app, &client).await;
        let mut visitor = Visitor::new(&app);
        let (authorize, _, verifier, state) = authorization(&rp, &[]);
        let first = code(&mut visitor, &authorize, &state).await;
        let id_token = exchange(&app, &rp, first, verifier).await.id_token().unwrap().to_string();
        let back = "http://localhost:3000/signed-out";
        let id = client.id.clone();
        app.change_applications(move |conn| {
            diesel::update(applications::table.filter(applications::client_id.eq(id)))
                .set(applications::post_logout_redirect_uris.eq(back))
                .execute(conn)
        });
        let logout = |uri: &str| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("id_token_hint", &id_token).append_pair("post_logout_redirect_uri", uri).append_pair("state", "bye");
            format!("/auth/logout?{}", query.finish())
        };

        let elsewhere = visitor.get(&logout("https://evil.example/")).await;
        assert_eq!(elsewhere.status, 200);
        assert!(elsewhere.location.is_none(), "an unregistered URI is never followed");
        assert!(elsewhere.body.contains("Signed out"));
        let (authorize, _, _, state) = authorization(&rp, &[]);
        assert!(visitor.get(&authorize).await.is_sign_in(), "the session ended");

        code(&mut visitor, &authorize, &state).await;
        let home = visitor.get(&logout(back)).await;
        assert_eq!(home.status, 302);
        assert_eq!(home.location.as_deref(), Some("http://localhost:3000/signed-out?state=bye"));
        let (authorize, _, _, _) = authorization(&rp, &[]);
        assert!(visitor.get(&authorize).await.is_sign_in(), "the session ended");

        // A forged hint names no application: no redirect.
        let forged = format!("{}x", &id_token[..id_token.len() - 1]);
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("id_token_hint", &forged).append_pair("post_logout_redirect_uri", back);
        let page = visitor.get(&format!("/auth/logout?{}", query.finish())).await;
        assert!(page.location.is_none());
    }

    async fn an_id_token_is_not_an_access_token(backend) {
        let app = spawn_app(backend).await;
        let (client, _) = client_and_user(&app).await;
        let tokens = app.token(&client).password(EMAIL, PASSWORD).scope("openid").ok().await;
        for alg in ["RS256", "EdDSA"] {
            set_alg(&app, &client, alg);
            let tokens = app.token(&client).password(EMAIL, PASSWORD).scope("openid").ok().await;
            assert_eq!(app.user_status(&text(&tokens, "id_token")).await, 401, "{alg} ID token as a Bearer token");
        }
        let refused = app.token(&client).refresh(&text(&tokens, "id_token")).send().await;
        assert_oauth_error(refused, 400, "invalid_grant").await;
    }
}

/// The pages in a real browser (headless Chromium) for a relying party asking for
/// `openid email`: sign-in, consent, and an ID token that says who signed in.
#[actix_web::test]
async fn a_browser_signs_in_for_a_relying_party() {
    use crate::chromium::{open_browser, Driver, LandingClient};
    use fantoccini::Locator;

    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let user_id = app.create_user(EMAIL, PASSWORD).await;
    let spa = LandingClient::register(&app, "OIDC SPA", false).await;
    let rp = relying_party_at(&app, &spa.client, &spa.redirect_uri).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let driver = Driver::start();
    let browser = open_browser(&driver).await;
    let outcome = async {
        browser.goto(url.as_str()).await?;
        browser.find(Locator::Css("input[name=username]")).await?.send_keys(EMAIL).await?;
        browser.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        let consent = browser.wait().for_element(Locator::Css("ul.scopes")).await?.text().await?;
        browser.find(Locator::Css("button[name=allow]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("landed")).await?;
        Ok::<_, fantoccini::error::CmdError>((consent, browser.current_url().await?))
    }
    .await;
    let _ = browser.close().await;
    let (consent, landed) = outcome.expect("the browser signed in and consented");
    assert!(consent.contains("Sign you in") && consent.contains("email address"), "{consent}");

    let params: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert_eq!(param(&params, "state"), Some(state.secret().as_str()));
    let code = param(&params, "code").expect("a code").to_owned();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http(&app))
        .await
        .expect("the code exchange");
    let claims = verified_claims(&rp, &tokens, Some(&nonce), &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    assert_eq!(claims.subject().as_str(), user_id.to_string());
    assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
    assert_eq!(claims.email_verified(), Some(false));
    assert!(claims.name().is_none(), "no profile scope, no name");
}
