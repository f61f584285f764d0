//! The authorization-code flow as a browser and a single-page app go through it
//! (SPEC §6): sign-in page, consent, redirect with a code, PKCE exchange.

use base64::Engine;
use portcullis::domain::{ClientType, GrantType};
use reqwest::header;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, spawn_app_with, text, TestApp, TestClient};

pub const REDIRECT: &str = "http://localhost:3000/callback";
const EMAIL: &str = "reader@example.com";
const PASSWORD: &str = "correct horse battery";

/// What a browser keeps between requests: our session cookie, nothing else.
pub struct Visitor<'a> {
    app: &'a TestApp,
    cookie: Option<String>,
}

/// One response as a browser sees it.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: String,
}

impl Page {
    /// The CSRF token of the page's form.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf_token" value=""#;
        let start =
            self.body.find(marker).unwrap_or_else(|| panic!("no CSRF field in {}", self.body)) + marker.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        self.body[start..end].to_owned()
    }

    /// The redirect's query parameters, after checking where it goes.
    pub fn redirect_params(&self, expected_base: &str) -> Vec<(String, String)> {
        assert_eq!(self.status, 302, "expected a redirect, got {}: {}", self.status, self.body);
        let location = Url::parse(self.location.as_deref().expect("Location")).expect("absolute URL");
        assert_eq!(&location[..url::Position::AfterPath], expected_base);
        location.query_pairs().into_owned().collect()
    }

    pub fn is_sign_in(&self) -> bool {
        self.body.contains(r#"name="username""#) && self.body.contains(r#"name="password""#)
    }

    /// The value the sign-in form's `username` field carries, as written in the HTML.
    pub fn username_value(&self) -> &str {
        let marker = r#"name="username" value=""#;
        let start = self.body.find(marker).unwrap_or_else(|| panic!("no username field in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        &self.body[start..end]
    }

    pub fn is_consent(&self) -> bool {
        self.body.contains(r#"name="allow""#) && self.body.contains(r#"name="deny""#)
    }
}

/// The text an HTML attribute value stands for (the entities an escaper writes).
fn unescape_html(value: &str) -> String {
    let entities = [
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
    ];
    let text = entities.iter().fold(value.to_owned(), |text, (entity, char)| text.replace(entity, char));
    text.replace("&#38;", "&").replace("&amp;", "&")
}

pub fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, cookie: None }
    }

    /// The `name=value` of the session cookie, for requests made by hand.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.app.http.get(self.app.url(path));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self.app.http.post(self.app.url(path)).form(fields);
        self.send(request).await
    }

    async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Page {
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await.expect("request sent");
        let set_cookie: Vec<String> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ascii cookie").to_owned())
            .collect();
        for cookie in &set_cookie {
            let pair = cookie.split(';').next().expect("name=value");
            if pair.starts_with("portcullis_session=") {
                self.cookie = Some(pair.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()),
            set_cookie,
            body: response.text().await.expect("body"),
        }
    }

    /// Opens `authorize` and signs in on the page it shows, returning the next page.
    pub async fn sign_in(&mut self, authorize: &str, login: &str, password: &str) -> Page {
        let page = self.get(authorize).await;
        assert!(page.is_sign_in(), "expected the sign-in page, got {}: {}", page.status, page.body);
        let csrf = page.csrf();
        self.post(authorize, &[("csrf_token", &csrf), ("username", login), ("password", password)]).await
    }

    /// Signs in and answers the consent page.
    pub async fn decide(&mut self, authorize: &str, allow: bool) -> Page {
        let consent = self.sign_in(authorize, EMAIL, PASSWORD).await;
        assert!(consent.is_consent(), "expected consent, got {}: {}", consent.status, consent.body);
        let button = if allow { "allow" } else { "deny" };
        self.post(authorize, &[("csrf_token", &consent.csrf()), (button, "1")]).await
    }
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = portcullis::tokens::random::token(32);
    let digest = Sha256::digest(verifier.as_bytes());
    (verifier, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

/// `/auth/authorize?...` for `client`; `challenge` None leaves PKCE out.
pub fn authorize_path(client: &TestClient, redirect_uri: &str, challenge: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "read write")
        .append_pair("state", "xyz-123");
    if let Some(challenge) = challenge {
        query.append_pair("code_challenge", challenge).append_pair("code_challenge_method", "S256");
    }
    format!("/auth/authorize?{}", query.finish())
}

pub fn public_client(app: &TestApp) -> TestClient {
    app.create_client(ClientType::Public, &[GrantType::AuthorizationCode, GrantType::RefreshToken])
}

pub async fn exchange(app: &TestApp, client: &TestClient, code: &str, verifier: &str) -> reqwest::Response {
    app.token(client).authorization_code(code, REDIRECT, verifier).send().await
}

/// Runs the browser part of the flow and returns the code and the verifier.
async fn code_for(app: &TestApp, client: &TestClient) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut visitor = Visitor::new(app);
    let done = visitor.decide(&authorize_path(client, REDIRECT, Some(&challenge)), true).await;
    let params = done.redirect_params(REDIRECT);
    (param(&params, "code").expect("code").to_owned(), verifier)
}

both_backends! {
    async fn public_client_signs_in_consents_and_exchanges_with_pkce(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (verifier, challenge) = pkce();
        let authorize = authorize_path(&client, REDIRECT, Some(&challenge));
        let mut visitor = Visitor::new(&app);

        let sign_in = visitor.get(&authorize).await;
        assert_eq!(sign_in.status, 200);
        assert!(sign_in.is_sign_in());
        assert!(sign_in.body.contains("Test app"), "the page names the application");
        let cookie = sign_in.set_cookie.iter().find(|c| c.starts_with("portcullis_session=")).expect("cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "an http issuer cannot use Secure cookies: {cookie}");

        let consent = visitor
            .post(&authorize, &[("csrf_token", &sign_in.csrf()), ("username", EMAIL), ("password", PASSWORD)])
            .await;
        assert!(consent.is_consent(), "{}", consent.body);
        assert!(consent.body.contains("read") && consent.body.contains("write"), "the page lists the scopes");

        // Both buttons at once is refused rather than read as consent.
        let both = visitor.post(&authorize, &[("csrf_token", &consent.csrf()), ("allow", "1"), ("deny", "1")]).await;
        assert_eq!(both.status, 400, "{}", both.body);
        let done = visitor.post(&authorize, &[("csrf_token", &consent.csrf()), ("allow", "1")]).await;
        let params = done.redirect_params(REDIRECT);
        assert_eq!(param(&params, "state"), Some("xyz-123"));
        let code = param(&params, "code").expect("code").to_owned();

        let response = exchange(&app, &client, &code, &verifier).await;
        assert_eq!(response.status(), 200);
        let tokens: Value = response.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "read write");
        let user: Value = app.get_user(&text(&tokens, "access_token")).await.json().await.unwrap();
        assert_eq!(user["email"], EMAIL);
        let refreshed = app.token(&client).refresh(&text(&tokens, "refresh_token")).send().await;
        assert_eq!(refreshed.status(), 200, "the pair refreshes like any other grant's");

        // The same browser is still signed in: straight to consent next time.
        let again = visitor.get(&authorize).await;
        assert!(again.is_consent(), "{}", again.body);
    }

    async fn a_code_works_once(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (code, verifier) = code_for(&app, &client).await;
        assert_eq!(exchange(&app, &client, &code, &verifier).await.status(), 200);
        assert_oauth_error(exchange(&app, &client, &code, &verifier).await, 400, "invalid_grant").await;
    }

    async fn a_wrong_verifier_is_refused_and_spends_the_code(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (code, verifier) = code_for(&app, &client).await;
        let (other_verifier, _) = pkce();
        assert_oauth_error(exchange(&app, &client, &code, &other_verifier).await, 400, "invalid_grant").await;
        assert_oauth_error(exchange(&app, &client, &code, &verifier).await, 400, "invalid_grant").await;
    }

    async fn a_code_is_bound_to_its_client_and_redirect_uri(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        let other = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;

        let (code, verifier) = code_for(&app, &client).await;
        assert_oauth_error(exchange(&app, &other, &code, &verifier).await, 400, "invalid_grant").await;

        let (code, verifier) = code_for(&app, &client).await;
        let other_redirect = "http://localhost:3000/elsewhere";
        let elsewhere = app.token(&client).authorization_code(&code, other_redirect, &verifier).send().await;
        assert_oauth_error(elsewhere, 400, "invalid_grant").await;
    }

    async fn denying_consent_redirects_with_access_denied(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (_, challenge) = pkce();
        let mut visitor = Visitor::new(&app);
        let done = visitor.decide(&authorize_path(&client, REDIRECT, Some(&challenge)), false).await;
        let params = done.redirect_params(REDIRECT);
        assert_eq!(param(&params, "error"), Some("access_denied"));
        assert_eq!(param(&params, "state"), Some("xyz-123"));
        assert_eq!(param(&params, "code"), None);
    }

    async fn eight_concurrent_exchanges_of_one_code_have_one_winner(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (code, verifier) = code_for(&app, &client).await;
        let attempts = (0..8).map(|_| exchange(&app, &client, &code, &verifier));
        let statuses: Vec<u16> =
            futures::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| [200, 400].contains(s)), "{statuses:?}");
    }

    async fn not_you_signs_the_browser_out_and_back_to_the_request(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (_, challenge) = pkce();
        let authorize = authorize_path(&client, REDIRECT, Some(&challenge));
        let mut visitor = Visitor::new(&app);
        let consent = visitor.sign_in(&authorize, EMAIL, PASSWORD).await;
        assert!(consent.is_consent() && consent.body.contains(r#"action="/auth/logout""#), "{}", consent.body);
        let csrf = consent.csrf();
        // Without the page's token: refused, and still signed in.
        assert_eq!(visitor.post("/auth/logout", &[("next", &authorize)]).await.status, 403);
        assert!(visitor.get(&authorize).await.is_consent());
        // A target other than an authorization request: signed out, but no redirect.
        let page = visitor.post("/auth/logout", &[("csrf_token", &csrf), ("next", "https://evil.example/")]).await;
        assert_eq!((page.status, page.location), (200, None));
        assert!(visitor.get(&authorize).await.is_sign_in(), "signed out");
        // A target no header can carry is not a 500.
        let page = visitor.post("/auth/logout", &[("csrf_token", &csrf), ("next", "/auth/authorize?a\r\nX: y")]).await;
        assert_eq!((page.status, page.location), (200, None));
        // The consent page's own form: signed out and back to the same request.
        let consent = visitor.sign_in(&authorize, EMAIL, PASSWORD).await;
        let out = visitor.post("/auth/logout", &[("csrf_token", &consent.csrf()), ("next", &authorize)]).await;
        assert_eq!((out.status, out.location.as_deref()), (303, Some(authorize.as_str())));
        assert!(visitor.get(&authorize).await.is_sign_in(), "signed out");
    }

    async fn the_consent_page_says_in_words_what_each_scope_allows(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (_, challenge) = pkce();
        let mut visitor = Visitor::new(&app);
        let consent = visitor.sign_in(&authorize_path(&client, REDIRECT, Some(&challenge)), EMAIL, PASSWORD).await;
        assert!(consent.is_consent(), "{}", consent.body);
        let described = portcullis::domain::Scope::parse("read write").unwrap().described();
        assert_eq!(described.len(), 2);
        for (name, words) in described {
            // The words for the person, the name kept for the curious.
            let item = format!(r#"<li title="scope: {name}">{words}</li>"#);
            assert!(consent.body.contains(&item), "no {item} in {}", consent.body);
            assert!(!consent.body.contains(&format!("<li>{name}</li>")), "{}", consent.body);
        }
        assert!(!consent.body.contains("scope: admin"), "not asked for");
    }

    async fn an_unregistered_redirect_uri_or_unknown_client_never_redirects(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        let (_, challenge) = pkce();
        let mut visitor = Visitor::new(&app);
        for target in ["https://evil.example/callback", "http://localhost:3000/callback/", "http://localhost:3000"] {
            let page = visitor.get(&authorize_path(&client, target, Some(&challenge))).await;
            assert_eq!(page.status, 400, "{target}");
            assert_eq!(page.location, None, "{target}");
            assert!(page.body.contains("not valid"), "{}", page.body);
        }
        let unknown = TestClient { id: "0123456789abcdef".into(), secret: None };
        let page = visitor.get(&authorize_path(&unknown, REDIRECT, Some(&challenge))).await;
        assert_eq!((page.status, page.location), (400, None));
    }

    async fn a_public_client_must_send_a_code_challenge(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        let mut visitor = Visitor::new(&app);
        let page = visitor.get(&authorize_path(&client, REDIRECT, None)).await;
        let params = page.redirect_params(REDIRECT);
        assert_eq!(param(&params, "error"), Some("invalid_request"));
        assert_eq!(param(&params, "code"), None);
        assert!(param(&params, "error_description").is_some_and(|d| d.contains("code_challenge")), "{params:?}");

        let plain = format!("{}&code_challenge=abc&code_challenge_method=plain", authorize_path(&client, REDIRECT, None));
        let params = visitor.get(&plain).await.redirect_params(REDIRECT);
        assert_eq!(param(&params, "error"), Some("invalid_request"), "only S256 is accepted");
        assert!(param(&params, "error_description").is_some_and(|d| d.contains("S256")), "{params:?}");
    }

    async fn an_application_without_the_grant_gets_unauthorized_client(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let (_, challenge) = pkce();
        let params = Visitor::new(&app).get(&authorize_path(&client, REDIRECT, Some(&challenge))).await.redirect_params(REDIRECT);
        assert_eq!(param(&params, "error"), Some("unauthorized_client"));
        assert_eq!(param(&params, "state"), Some("xyz-123"));
    }

    async fn forms_without_the_csrf_token_are_refused(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (_, challenge) = pkce();
        let authorize = authorize_path(&client, REDIRECT, Some(&challenge));

        // No cookie at all, as a cross-site form in a cookie-less browser would send.
        let mut stranger = Visitor::new(&app);
        let page = stranger.post(&authorize, &[("username", EMAIL), ("password", PASSWORD)]).await;
        assert_eq!(page.status, 403);
        assert!(page.set_cookie.is_empty(), "no session from a refused form");

        let mut visitor = Visitor::new(&app);
        let sign_in = visitor.get(&authorize).await;
        let missing = visitor.post(&authorize, &[("username", EMAIL), ("password", PASSWORD)]).await;
        assert_eq!(missing.status, 403);
        let forged = visitor
            .post(&authorize, &[("csrf_token", &"0".repeat(64)), ("username", EMAIL), ("password", PASSWORD)])
            .await;
        assert_eq!(forged.status, 403);

        // The real token works; the consent form is guarded the same way.
        let csrf = sign_in.csrf();
        let consent = visitor.post(&authorize, &[("csrf_token", &csrf), ("username", EMAIL), ("password", PASSWORD)]).await;
        assert!(consent.is_consent());
        let refused = visitor.post(&authorize, &[("allow", "1")]).await;
        assert_eq!((refused.status, refused.location), (403, None));
    }

    async fn a_wrong_password_shows_the_form_again(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (_, challenge) = pkce();
        let authorize = authorize_path(&client, REDIRECT, Some(&challenge));
        let mut visitor = Visitor::new(&app);
        let page = visitor.sign_in(&authorize, EMAIL, "not the password").await;
        assert_eq!(page.status, 400);
        assert!(page.is_sign_in());
        assert!(page.body.contains("role=\"alert\""), "{}", page.body);
        let after = visitor.get(&authorize).await;
        assert!(after.is_sign_in(), "still signed out");
    }

    async fn a_wrong_password_keeps_the_typed_login_escaped_and_never_the_password(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (_, challenge) = pkce();
        let authorize = authorize_path(&client, REDIRECT, Some(&challenge));
        let mut visitor = Visitor::new(&app);
        let secret = "not the password";
        let page = visitor.sign_in(&authorize, &format!("  {EMAIL} "), secret).await;
        assert_eq!(page.status, 400);
        assert_eq!(page.username_value(), EMAIL, "kept, trimmed as it was checked");
        assert!(!page.body.contains(secret), "{}", page.body);

        // Markup typed into the field comes back as text inside the attribute.
        let markup = r#""><script>alert(1)</script>'&"#;
        let page = visitor.sign_in(&authorize, markup, secret).await;
        assert_eq!(page.status, 400);
        assert!(!page.body.contains("<script>"), "{}", page.body);
        let value = page.username_value();
        assert!(!value.contains(['<', '>', '\'']), "{value}");
        assert_eq!(unescape_html(value), markup, "{value}");
        assert!(!page.body.contains(secret), "{}", page.body);

        // The admin console's sign-in form keeps it the same way.
        let form = visitor.get("/admin/login").await;
        let page = visitor
            .post("/admin/login", &[("csrf_token", &form.csrf()), ("username", EMAIL), ("password", secret)])
            .await;
        assert_eq!(page.status, 400);
        assert_eq!(page.username_value(), EMAIL);
        assert!(!page.body.contains(secret), "{}", page.body);
    }

    async fn sign_in_is_throttled_like_the_password_grant(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_THROTTLE_ACCOUNT_FAILURES", "2");
        })
        .await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (_, challenge) = pkce();
        let authorize = authorize_path(&client, REDIRECT, Some(&challenge));
        let mut visitor = Visitor::new(&app);
        for _ in 0..2 {
            assert_eq!(visitor.sign_in(&authorize, EMAIL, "wrong password").await.status, 400);
        }
        let page = visitor.sign_in(&authorize, EMAIL, PASSWORD).await;
        assert_eq!(page.status, 429, "even the right password waits: {}", page.body);
        assert!(page.is_sign_in() && page.body.contains("Too many failed sign-ins"), "{}", page.body);
        assert!(visitor.get(&authorize).await.is_sign_in(), "not signed in");
        // The password grant shares the counters.
        let password_client = app.confidential_client();
        assert_eq!(app.token(&password_client).password(EMAIL, PASSWORD).send().await.status(), 429);
    }

    async fn an_expired_code_is_refused(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let (code, verifier) = code_for(&app, &client).await;
        {
            use diesel::prelude::*;
            use portcullis::store::schema::authorization_codes as codes;
            let aged = diesel::update(codes::table)
                .set(codes::expires_at.eq(portcullis::time::now() - 1))
                .execute(&mut app.db())
                .unwrap();
            assert_eq!(aged, 1);
        }
        assert_oauth_error(exchange(&app, &client, &code, &verifier).await, 400, "invalid_grant").await;
    }

    async fn an_https_issuer_sets_a_secure_cookie(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_ISSUER", "https://auth.example.com");
        })
        .await;
        let client = public_client(&app);
        let (_, challenge) = pkce();
        let page = Visitor::new(&app).get(&authorize_path(&client, REDIRECT, Some(&challenge))).await;
        // The __Host- prefix: a sibling subdomain cannot plant the cookie.
        let cookie =
            page.set_cookie.iter().find(|c| c.starts_with("__Host-portcullis_session=")).expect("cookie");
        assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
        assert!(!cookie.contains("Domain"), "{cookie}");
        assert!(cookie.contains("Path=/;") || cookie.ends_with("Path=/"), "{cookie}");
    }

    async fn a_trusted_application_skips_consent(backend) {
        let app = spawn_app(backend).await;
        app.create_user(EMAIL, PASSWORD).await;
        let spec = portcullis::manage::ApplicationSpec {
            name: "First-party SPA".into(),
            client_type: ClientType::Public,
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec![REDIRECT.into()],
            skip_authorization: true,
            owner_id: None,
            ..Default::default()
        };
        let created = portcullis::manage::create_application(&mut portcullis::db::Writer::offline(&mut app.db()), &spec).unwrap();
        let client = TestClient { id: created.client_id, secret: None };
        let (verifier, challenge) = pkce();
        let mut visitor = Visitor::new(&app);
        let done = visitor.sign_in(&authorize_path(&client, REDIRECT, Some(&challenge)), EMAIL, PASSWORD).await;
        let params = done.redirect_params(REDIRECT);
        let code = param(&params, "code").expect("a code without a consent page");
        assert_eq!(exchange(&app, &client, code, &verifier).await.status(), 200);
    }

    async fn nul_characters_get_the_error_page_not_a_500(backend) {
        let app = spawn_app(backend).await;
        let client = public_client(&app);
        app.create_user(EMAIL, PASSWORD).await;
        let mut visitor = Visitor::new(&app);
        assert_eq!(visitor.get("/auth/authorize?client_id=%00").await.status, 400);
        let with_nul =
            format!("{}&code_challenge=abc%00def&code_challenge_method=S256", authorize_path(&client, REDIRECT, None));
        let page = visitor.get(&with_nul).await;
        assert_eq!((page.status, page.location), (400, None));
        // Not UTF-8 once decoded is refused like NUL, as a form body is.
        let not_utf8 = format!("{}&code_challenge=abc%ffdef&code_challenge_method=S256", authorize_path(&client, REDIRECT, None));
        let page = visitor.get(&not_utf8).await;
        assert_eq!((page.status, page.location), (400, None));
        let (_, challenge) = pkce();
        let sign_in = visitor.get(&authorize_path(&client, REDIRECT, Some(&challenge))).await;
        let nul_challenge = format!("{}&code_challenge=%00", authorize_path(&client, REDIRECT, None));
        let posted = visitor
            .post(&nul_challenge, &[("csrf_token", &sign_in.csrf()), ("username", EMAIL), ("password", PASSWORD)])
            .await;
        assert!(posted.status < 500, "{}", posted.status);
    }
}
