//! Junk never produces a 500: every POST endpoint answers a JSON OAuth error.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app, TestApp};

const POST_ENDPOINTS: [&str; 9] = [
    "/auth/token",
    "/auth/register",
    "/auth/revoke-token",
    "/auth/introspect",
    "/auth/invalidate-sessions",
    "/auth/invalidate-refresh-tokens",
    "/auth/password",
    "/auth/token/",
    "/auth/register/",
];

/// Sends `body` with `content_type` and checks for a 4xx JSON error.
async fn assert_client_error(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    bearer: Option<&str>,
) -> u16 {
    let mut request = app.http.post(app.url(path)).header("content-type", content_type).body(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!((400..500).contains(&status), "{path} {content_type}: status {status}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
    assert!(body["error"].is_string(), "{path}: {body}");
    status
}

both_backends! {
    async fn junk_bodies_get_json_client_errors_on_every_post_endpoint(backend) {
        let app = spawn_app(backend).await;
        let json = "application/json";
        let form = "application/x-www-form-urlencoded";
        let long = "x".repeat(60_000);
        let junk: Vec<(&str, Vec<u8>)> = vec![
            (json, b"{not json".to_vec()),
            (json, b"[1, 2, 3]".to_vec()),
            (json, b"\"just a string\"".to_vec()),
            (json, br#"{"grant_type": 7, "username": [1], "password": {"a": null}, "client_id": null}"#.to_vec()),
            (json, format!(r#"{{"grant_type": "password", "username": "{long}"}}"#).into_bytes()),
            (json, "{\"grant_type\": \"p\u{0}ssword\", \"email\": \"\u{1F600}@\u{1F600}\"}".as_bytes().to_vec()),
            (form, vec![0xff, 0xfe, 0x00, 0x80, 0x25, 0x25]),
            (form, b"grant_type=password&username=%ZZ&&==&client_id=%00".to_vec()),
            (form, Vec::new()),
            ("multipart/form-data; boundary=xyz", b"--xyz\r\n\r\n--xyz--".to_vec()),
            ("application/xml", b"<token/>".to_vec()),
        ];
        for path in POST_ENDPOINTS {
            for (content_type, body) in &junk {
                assert_client_error(&app, path, content_type, body.clone(), None).await;
                assert_client_error(&app, path, content_type, body.clone(), Some("garbage.token.here")).await;
            }
        }
    }

    // A lossy decoder turns every invalid byte into U+FFFD, so a password of nine such
    // bytes would match any other nine.
    async fn form_values_that_are_not_utf8_are_refused_not_replaced(backend) {
        let app = spawn_app(backend).await;
        let form = "application/x-www-form-urlencoded";
        let register = b"email=bytes%40example.com&password=%ff%ff%ff%ff%ff%ff%ff%ff%ff".to_vec();
        let response =
            app.http.post(app.url("/auth/register")).header("content-type", form).body(register).send().await.unwrap();
        assert_oauth_error(response, 400, "invalid_request").await;

        app.create_user("bytes@example.com", "\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}").await;
        let client = app.confidential_client();
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in client.body() {
            body.append_pair(key, &value);
        }
        let sign_in = format!(
            "{}&grant_type=password&username=bytes%40example.com&password=%fe%fe%fe%fe%fe%fe%fe%fe%fe",
            body.finish()
        );
        let response =
            app.http.post(app.url("/auth/token")).header("content-type", form).body(sign_in).send().await.unwrap();
        assert_oauth_error(response, 400, "invalid_request").await;
        app.token(&client).password("bytes@example.com", &"\u{fffd}".repeat(9)).ok().await;
    }

    async fn json_without_a_json_content_type_is_told_which_type_to_send(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("typed@example.com", crate::helpers::PASSWORD).await;
        let mut fields = client.body();
        fields.push(("grant_type", "password".into()));
        fields.push(("username", "typed@example.com".into()));
        fields.push(("password", crate::helpers::PASSWORD.into()));
        let object: serde_json::Map<String, Value> =
            fields.iter().map(|(k, v)| ((*k).to_owned(), Value::String(v.clone()))).collect();
        let json = Value::Object(object).to_string();

        for content_type in [None, Some("text/plain;charset=UTF-8"), Some("application/x-www-form-urlencoded")] {
            let mut request = app.http.post(app.url("/auth/token")).body(format!("\n{json}"));
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let body = assert_oauth_error(request.send().await.unwrap(), 400, "invalid_request").await;
            let description = body["error_description"].as_str().unwrap();
            assert!(description.contains("application/json"), "{content_type:?}: {description}");
            assert!(!description.contains("grant_type"), "{content_type:?}: {description}");
        }

        // The same JSON with its type signs in; a form that omits its type still does too.
        let typed = app.http.post(app.url("/auth/token")).header("content-type", "application/json").body(json);
        assert_eq!(typed.send().await.unwrap().status(), 200);
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in &fields {
            form.append_pair(key, value);
        }
        let untyped = app.http.post(app.url("/auth/token")).body(form.finish()).send().await.unwrap();
        assert_eq!(untyped.status(), 200, "a form without Content-Type is still a form");
    }

    async fn bodies_over_64_kib_are_413(backend) {
        let app = spawn_app(backend).await;
        let huge = format!("grant_type=password&username={}", "a".repeat(70 * 1024)).into_bytes();
        for path in POST_ENDPOINTS {
            let status = assert_client_error(&app, path, "application/x-www-form-urlencoded", huge.clone(), None).await;
            assert_eq!(status, 413, "{path}");
        }
    }

    async fn a_wrong_method_on_a_known_path_is_405_with_allow(backend) {
        let app = spawn_app(backend).await;
        let cases = [
            (reqwest::Method::GET, "/auth/token", "POST"),
            (reqwest::Method::PUT, "/auth/revoke-token", "POST"),
            (reqwest::Method::GET, "/auth/convert-token", "POST"),
            (reqwest::Method::POST, "/auth/users", "GET"),
            (reqwest::Method::DELETE, "/auth/user", "GET, PATCH"),
            (reqwest::Method::PUT, "/auth/authorize", "GET, POST"),
        ];
        for (method, path, allow) in cases {
            let response = app.http.request(method.clone(), app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_eq!(response.headers()["allow"], allow, "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request", "{method} {path}");
            assert!(body["error_description"].as_str().unwrap().contains(allow), "{method} {path}");
        }
    }

    async fn unknown_paths_and_wrong_methods_answer_json(backend) {
        let app = spawn_app(backend).await;
        for path in ["/no/such/thing", "/admin/assets/missing.js"] {
            let response = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 404, "{path}");
            assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_found", "{path}");
        }
        for path in ["/auth/token", "/auth/user"] {
            let response = app.http.delete(app.url(path)).send().await.unwrap();
            assert!(response.status().is_client_error(), "{path}");
            assert!(response.json::<Value>().await.unwrap()["error"].is_string());
        }
        let response = app.http.get(app.url("/auth/users?page=abc")).send().await.unwrap();
        assert!(response.status().is_client_error());
    }
}
