//! `docs/openapi.json` and the server held to each other in both directions: every
//! documented path and method is served, every other method of a documented path is
//! 405 with exactly the documented methods in `Allow`, and every route registered in
//! `src/` is documented or named below as a page for people.
//!
//! actix-web cannot list its routes, so the registered paths are read from the source:
//! the string literals that `configure` functions pass as paths, under their scopes.
//! A path registered anywhere else fails the test too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::spawn_app;

/// Registered routes kept out of the document on purpose, each with why.
const PAGES: [(&str, &str); 4] = [
    ("/admin", "the admin console's HTML page, which drives the documented admin API"),
    ("/admin/login", "the console's sign-in page and the form it posts"),
    ("/admin/logout", "the console's sign-out form"),
    ("/admin/assets/{file}", "the console's script and style sheet"),
];

/// Every method a probe tries on every documented path.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn repository_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Documented path -> its methods, upper-case.
fn documented(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let paths = document["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item is an object")
                .keys()
                .filter(|key| METHODS.iter().any(|m| m.eq_ignore_ascii_case(key)))
                .map(|key| key.to_ascii_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Punct(char),
}

/// Rust source as words, string literals and punctuation; comments, char literals and
/// lifetimes dropped. Enough to read route registration, not a Rust lexer.
fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && at(i + 1) == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (at(i + 1) == '"' || (at(i + 1) == '#' && matches!(at(i + 2), '"' | '#'))) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            let start = i + 1 + hashes + 1;
            let closing: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let rest: String = chars[start..].iter().collect();
            let end = rest.find(&closing).expect("raw string closes");
            out.push(Token::Str(rest[..end].to_owned()));
            i = start + rest[..end].chars().count() + closing.chars().count();
        } else if c == '"' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    text.push(chars[i]);
                    i += 1;
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Str(text));
        } else if c == '\'' {
            // A char literal ('x', '\n') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            if !c.is_whitespace() {
                out.push(Token::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// The token ranges of the bodies of `fn configure` in a file.
fn configure_bodies(tokens: &[Token]) -> Vec<std::ops::Range<usize>> {
    let mut bodies = Vec::new();
    let mut i = 0;
    while i + 1 < tokens.len() {
        if tokens[i] == Token::Word("fn".into()) && tokens[i + 1] == Token::Word("configure".into()) {
            let open = i + tokens[i..].iter().position(|t| *t == Token::Punct('{')).expect("a body");
            let mut depth = 0;
            let mut end = open;
            for (k, token) in tokens.iter().enumerate().skip(open) {
                match token {
                    Token::Punct('{') => depth += 1,
                    Token::Punct('}') => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = k;
                    break;
                }
            }
            bodies.push(open..end);
            i = end;
        }
        i += 1;
    }
    bodies
}

fn is_path(literal: &str) -> bool {
    literal.is_empty() || literal.starts_with('/')
}

/// `/admin` + `/` is `/admin`: the server drops a trailing slash before routing.
fn joined(prefixes: &[(String, usize)], literal: &str) -> String {
    let mut path: String = prefixes.iter().map(|(p, _)| p.as_str()).collect();
    path.push_str(literal);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    }
}

/// The paths one `configure` body registers: every path literal that is the first
/// argument of a call, under the `web::scope` literals whose groups enclose it.
fn paths_in(body: &[Token]) -> Vec<String> {
    let mut paths = Vec::new();
    let mut scopes: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    for (k, token) in body.iter().enumerate() {
        match token {
            Token::Punct('(') => {
                if let Some(Token::Str(literal)) = body.get(k + 1).filter(|_| k > 0) {
                    if is_path(literal) {
                        if body[k - 1] == Token::Word("scope".into()) {
                            // A scope lasts as long as the group that holds it.
                            scopes.push((literal.clone(), depth));
                        } else {
                            paths.push(joined(&scopes, literal));
                        }
                    }
                }
                depth += 1;
            }
            Token::Punct(')') => {
                depth -= 1;
                scopes.retain(|(_, at)| *at <= depth);
            }
            _ => {}
        }
    }
    paths
}

/// Words that take a path literal when they register a route: actix's builders and
/// its attribute macros (`#[get("/x")]`).
const REGISTERING: [&str; 9] =
    ["scope", "resource", "route", "get", "post", "put", "patch", "delete", "head"];

/// Every path registered under `src/`, and where a path is registered outside a
/// `configure` function (which this reading would miss).
fn registered_paths() -> (BTreeSet<String>, Vec<String>) {
    let mut files = Vec::new();
    let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("src/ readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut paths = BTreeSet::new();
    let mut elsewhere = Vec::new();
    for file in files {
        let tokens = tokens(&std::fs::read_to_string(&file).expect("source readable"));
        let bodies = configure_bodies(&tokens);
        for body in &bodies {
            paths.extend(paths_in(&tokens[body.clone()]));
        }
        for (k, window) in tokens.windows(3).enumerate() {
            let [Token::Word(word), Token::Punct('('), Token::Str(literal)] = window else { continue };
            if REGISTERING.contains(&word.as_str())
                && literal.starts_with('/')
                && !bodies.iter().any(|body| body.contains(&k))
            {
                elsewhere.push(format!("{}: {word}(\"{literal}\")", file.display()));
            }
        }
    }
    (paths, elsewhere)
}

#[test]
fn every_registered_route_is_documented_or_listed_as_a_page() {
    let document: Value = serde_json::from_str(&repository_file("docs/openapi.json")).expect("JSON");
    let documented: BTreeSet<String> = documented(&document).into_keys().collect();
    let (registered, elsewhere) = registered_paths();
    assert!(elsewhere.is_empty(), "register routes in a `configure` function: {elsewhere:?}");
    assert!(registered.contains("/auth/token") && registered.contains("/admin/api/applications/{client_id}"));

    let pages: BTreeSet<String> = PAGES.iter().map(|(path, _)| path.to_string()).collect();
    let undocumented: Vec<_> = registered.difference(&documented).filter(|p| !pages.contains(*p)).collect();
    assert!(
        undocumented.is_empty(),
        "registered but neither in docs/openapi.json nor in PAGES: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&registered).collect();
    assert!(unserved.is_empty(), "in docs/openapi.json but registered nowhere: {unserved:?}");
    let stale: Vec<_> = pages.difference(&registered).collect();
    assert!(stale.is_empty(), "PAGES names paths no longer registered: {stale:?}");
    let both: Vec<_> = pages.intersection(&documented).collect();
    assert!(both.is_empty(), "a page is documented after all; take it out of PAGES: {both:?}");
}

#[test]
fn the_route_reader_sees_scopes_helpers_and_stray_registrations() {
    let source = r#"
        pub fn configure(cfg: &mut web::ServiceConfig) {
            // .route("/commented-out", web::get().to(h))
            cfg.service(web::scope("/a").service(post("/b", h)).route("", web::get().to(h)))
                .service(web::scope("/c").service(web::resource("/{id}/").route(web::get().to(gone("GET")))))
                .route("/d", get_or_head().to(h));
        }
        fn helper() { web::resource(path).default_service(not_allowed("GET, POST")) }
        #[get("/stray")]
        async fn stray() {}
    "#;
    let tokens = tokens(source);
    let bodies = configure_bodies(&tokens);
    assert_eq!(bodies.len(), 1);
    assert_eq!(paths_in(&tokens[bodies[0].clone()]), ["/a/b", "/a", "/c/{id}", "/d"]);
    let stray: Vec<_> = tokens
        .windows(3)
        .enumerate()
        .filter(|(k, _)| !bodies[0].contains(k))
        .filter_map(|(_, w)| match w {
            [Token::Word(word), Token::Punct('('), Token::Str(path)]
                if REGISTERING.contains(&word.as_str()) =>
            {
                Some(path.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(stray, ["/stray"]);
}

/// A request to `path` with each `{parameter}` filled in.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("a parameter closes") + open;
        out.push_str(&rest[..open]);
        out.push('1');
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `(endpoint pattern, method, status)` of every request the server has counted.
fn counted_requests(metrics: &str) -> BTreeSet<(String, String, String)> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("portcullis_http_requests_total{"))
        .filter_map(|line| line.rsplit_once('}'))
        .map(|(labels, _)| {
            let labels: BTreeMap<&str, &str> = labels
                .split("\",")
                .filter_map(|pair| pair.split_once("=\""))
                .map(|(k, v)| (k, v.trim_end_matches('"')))
                .collect();
            (labels["endpoint"].to_owned(), labels["method"].to_owned(), labels["status"].to_owned())
        })
        .collect()
}

both_backends! {
    async fn the_served_document_is_the_repository_one_in_openapi_3_1(backend) {
        let app = spawn_app(backend).await;
        let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let served = response.text().await.unwrap();
        assert_eq!(served, repository_file("docs/openapi.json"), "served byte for byte");
        let document: Value = serde_json::from_str(&served).expect("valid JSON");
        let version = document["openapi"].as_str().expect("an openapi version");
        assert!(version.starts_with("3.1."), "OpenAPI 3.1.x, not {version}");
        for schema in ["TokenResponse", "OAuthError"] {
            assert!(document["components"]["schemas"][schema].is_object(), "components.schemas.{schema}");
        }
        let head = app.http.head(app.url("/openapi.json")).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert!(head.bytes().await.unwrap().is_empty());
    }

    async fn every_documented_method_is_served_and_every_other_is_405_with_the_documented_allow(backend) {
        let app = spawn_app(backend).await;
        let document: Value = serde_json::from_str(&repository_file("docs/openapi.json")).unwrap();
        let mut served = Vec::new();
        for (path, methods) in documented(&document) {
            assert!(!methods.is_empty(), "{path} documents no method");
            let url = app.url(&concrete(&path));
            for method in METHODS {
                let response = app.http.request(Method::from_bytes(method.as_bytes()).unwrap(), &url).send().await.unwrap();
                let status = response.status().as_u16();
                if methods.contains(method) {
                    assert_ne!(status, 405, "{method} {path} is documented");
                    served.push((path.clone(), method.to_owned(), status.to_string()));
                    continue;
                }
                assert_eq!(status, 405, "{method} {path} is not documented");
                let allow: BTreeSet<String> = response.headers()["allow"]
                    .to_str()
                    .unwrap()
                    .split(',')
                    .map(|m| m.trim().to_owned())
                    .collect();
                assert_eq!(allow, methods, "Allow of {method} {path}");
                if method != "HEAD" {
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["error"], "invalid_request", "{method} {path}");
                }
            }
        }
        // A 404 from a handler (no such item) and one from no route at all look alike;
        // the server's own count says which of its routes answered each request.
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let counted = counted_requests(&metrics);
        for (path, method, status) in served {
            assert!(
                counted.contains(&(path.clone(), method.clone(), status.clone())),
                "{method} {path} ({status}) was not answered by the route {path}"
            );
        }
    }
}
