//! README.md as a newcomer uses it: its marked shell blocks run against a test server, its
//! single-page-app page in headless Chromium, and its links resolved in the repository.
//!
//! README marks a block for these tests with `<!-- tested: LANG NAME -->` on the line
//! before its fence, so what runs here is exactly what a reader pastes.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use fantoccini::Locator;
use portcullis::domain::{ClientType, GrantType};
use portcullis::manage::{self, ApplicationSpec};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_backends;
use crate::chromium::{open_browser, Driver};
use crate::helpers::{spawn_app, spawn_app_with, text, Backend, TestApp, TestClient};

const README: &str = include_str!("../../README.md");

/// The server address README's commands and page use; the tests put theirs in its place.
const README_SERVER: &str = "http://127.0.0.1:8000";

/// The user README's walk-through signs up.
const README_EMAIL: &str = "ada@example.com";

/// A fenced block README marks for testing.
struct Block {
    lang: String,
    name: String,
    body: String,
}

fn tested_blocks(readme: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(mark) = line.trim().strip_prefix("<!-- tested:").and_then(|m| m.strip_suffix("-->")) else {
            continue;
        };
        let words: Vec<&str> = mark.split_whitespace().collect();
        let [lang, name] = words[..] else {
            panic!("README marker `{line}`: expected `<!-- tested: LANG NAME -->`")
        };
        let fence = lines.next().unwrap_or_default();
        assert_eq!(fence, format!("```{lang}"), "README: the line after `{line}` opens a ```{lang} block");
        let mut body = String::new();
        let closed = lines.by_ref().any(|line| {
            let end = line == "```";
            if !end {
                body.push_str(line);
                body.push('\n');
            }
            end
        });
        assert!(closed, "README: the block after `{line}` is never closed");
        assert!(blocks.iter().all(|b| b.name != name), "README: two blocks are named `{name}`");
        blocks.push(Block { lang: lang.to_owned(), name: name.to_owned(), body });
    }
    blocks
}

/// What one block printed, and the walk-through's token variables after it.
#[derive(Debug, Default)]
struct Step {
    output: String,
    access: String,
    refresh: String,
}

/// Precedes the line the script prints after each block (not something README prints).
const PROBE: &str = "@@readme-block";

/// Runs every `sh` block of README in order, as one bash script with `set -euo pipefail`, with
/// `portcullis` on PATH and `DATABASE_URL` naming the test's database; returns each block's step.
async fn run_shell_blocks(app: &TestApp) -> HashMap<String, Step> {
    let jq = Command::new("jq").arg("--version").output();
    assert!(jq.is_ok_and(|o| o.status.success()), "README's walk-through needs jq: run tests/setup.sh");

    let blocks: Vec<Block> = tested_blocks(README).into_iter().filter(|b| b.lang == "sh").collect();
    assert!(
        blocks.iter().any(|b| b.body.contains(README_SERVER)),
        "README's shell blocks no longer name {README_SERVER}: the tests cannot point them at a test server"
    );
    let mut script = String::from("set -euo pipefail\n");
    for block in &blocks {
        script.push_str(&block.body.replace(README_SERVER, &app.address));
        script.push_str(&format!(
            "printf '\\n{PROBE} %s %s %s\\n' '{}' \"${{ACCESS-}}\" \"${{REFRESH-}}\"\n",
            block.name
        ));
    }

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_portcullis")).parent().expect("the binary's directory");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let database_url = app.database_url.clone();
    // A directory of its own, so that nothing README writes lands in the repository.
    let workdir = tempfile::tempdir().expect("temp dir");
    let cwd = workdir.path().to_owned();
    // Off the runtime's thread: the script talks to the server this runtime drives.
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(cwd)
            .env("PATH", path)
            .env("DATABASE_URL", database_url)
            .env_remove("PORTCULLIS_CONFIG")
            .output()
            .expect("bash runs")
    })
    .await
    .expect("the script's thread");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "README's commands failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");

    let mut steps = HashMap::new();
    let mut current = String::new();
    for line in stdout.lines() {
        if let Some(probe) = line.strip_prefix(PROBE) {
            let fields: Vec<&str> = probe.split(' ').skip(1).collect();
            let [name, access, refresh] = fields[..] else { panic!("probe line `{line}`") };
            let output = std::mem::take(&mut current);
            let output = output.trim().to_owned();
            steps.insert(name.to_owned(), Step { output, access: access.into(), refresh: refresh.into() });
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    assert_eq!(steps.len(), blocks.len(), "every block ran\n{stdout}");
    steps
}

fn step<'s>(steps: &'s HashMap<String, Step>, name: &str) -> &'s Step {
    steps.get(name).unwrap_or_else(|| panic!("README has no shell block marked `{name}`"))
}

/// The JSON documents a block printed, one after the other (as `jq .` prints them).
fn json_documents(output: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(output)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not JSON ({e}): {output}"))
}

both_backends! {
    async fn walkthrough(backend) {
        let app = spawn_app(backend).await;
        let steps = run_shell_blocks(&app).await;

        let cli = &step(&steps, "cli").output;
        assert!(cli.contains("client_secret: pc_cs_"), "rotate-secret printed no new secret: {cli}");
        assert!(cli.contains("new signing key"), "keys rotate printed nothing: {cli}");

        let client_id = step(&steps, "register-app").output.trim().to_owned();
        assert!(!client_id.is_empty() && client_id != "null", "step 1 printed no client id: {client_id:?}");

        let signed_up = json_documents(&step(&steps, "sign-up").output);
        assert_eq!(signed_up[0]["email"], README_EMAIL);

        let signed_in = step(&steps, "sign-in");
        assert!(signed_in.access.starts_with("eyJ"), "no access token kept: {}", signed_in.output);
        assert!(signed_in.refresh.starts_with("pc_rt_"), "no refresh token kept: {}", signed_in.output);

        let me = json_documents(&step(&steps, "who-am-i").output);
        assert_eq!(me[0]["email"], README_EMAIL, "who am I");

        let refreshed = step(&steps, "refresh");
        assert!(refreshed.access.starts_with("eyJ"), "no new access token kept: {}", refreshed.output);
        assert!(refreshed.refresh.starts_with("pc_rt_"), "no new refresh token kept: {}", refreshed.output);
        assert_ne!(refreshed.access, signed_in.access, "the refresh gave the same access token");
        assert_ne!(refreshed.refresh, signed_in.refresh, "the refresh gave the same refresh token");
        assert_eq!(app.user_status(&signed_in.access).await, 401, "the access token from before the refresh still works");

        // Sign-out revokes the pair the refresh gave, not the one before it.
        let signed_out = step(&steps, "sign-out");
        assert_eq!(signed_out.output.trim(), "204");
        assert_eq!(signed_out.access, refreshed.access, "sign-out used another access token");
        let refused: Vec<&str> = step(&steps, "refused").output.lines().collect();
        assert_eq!(refused, ["401", "invalid_grant"], "the signed-out pair still works");
        assert_eq!(app.user_status(&refreshed.access).await, 401);

        let admin = &step(&steps, "admin-sign-in").output;
        assert!(admin.contains("superuser admin created"), "{admin}");
        let answers = json_documents(&step(&steps, "admin-calls").output);
        let [created, found] = &answers[..] else { panic!("two answers expected: {answers:?}") };
        assert!(text(created, "client_secret").starts_with("pc_cs_"), "{created}");
        assert_eq!(found["total"], 1, "{found}");
        assert_eq!(found["items"][0]["email"], README_EMAIL);
    }
}

/// README's page, served at `/callback` of a server on another origin than Portcullis, with
/// the client id and server address put in; returns the page's server and the client.
async fn serve_readme_page(app: &TestApp, page_origin: &MockServer) -> TestClient {
    let redirect_uri = format!("{}/callback", page_origin.uri());
    let created = manage::create_application(
        &mut portcullis::db::Writer::offline(&mut app.db()),
        &ApplicationSpec {
            name: "README SPA".into(),
            client_type: ClientType::Public,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            redirect_uris: vec![redirect_uri],
            skip_authorization: false,
            owner_id: None,
            ..ApplicationSpec::default()
        },
    )
    .expect("application created");
    let page = tested_blocks(README)
        .into_iter()
        .find(|b| b.lang == "html" && b.name == "spa-page")
        .expect("README has an html block marked `spa-page`")
        .body;
    assert!(page.contains(README_SERVER) && page.contains("YOUR_CLIENT_ID"), "README's page changed shape");
    let page = page.replace(README_SERVER, &app.address).replace("YOUR_CLIENT_ID", &created.client_id);
    Mock::given(method("GET"))
        .and(path("/callback"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/html; charset=utf-8"))
        .mount(page_origin)
        .await;
    TestClient { id: created.client_id, secret: None }
}

const SPA_EMAIL: &str = "spa@example.com";

/// From README's page: Sign in, our sign-in page, then consent (`allow` or `deny`).
async fn sign_in_from_the_page(
    browser: &fantoccini::Client,
    page_url: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(page_url).await?;
    browser.wait().for_element(Locator::Id("go")).await?.click().await?;
    browser.wait().for_element(Locator::Css("input[name=username]")).await?.send_keys(SPA_EMAIL).await?;
    browser.find(Locator::Css("input[name=password]")).await?.send_keys(crate::helpers::PASSWORD).await?;
    browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
    browser.wait().for_element(Locator::Css("button[name=allow]")).await?.click().await?;
    Ok(())
}

/// The page's error line once it is shown.
async fn page_error(browser: &fantoccini::Client) -> Result<String, fantoccini::error::CmdError> {
    browser.wait().for_element(Locator::Css("#error:not([hidden])")).await?.text().await
}

#[actix_web::test]
async fn spa_page_shows_the_token_response_and_a_denial() {
    let page_origin = MockServer::start().await;
    let origin = page_origin.uri();
    let app = spawn_app_with(Backend::Sqlite, |raw| {
        raw.set("PORTCULLIS_CORS_ORIGINS", &origin);
    })
    .await;
    app.create_user(SPA_EMAIL, crate::helpers::PASSWORD).await;
    serve_readme_page(&app, &page_origin).await;
    let page_url = format!("{origin}/callback");

    let driver = Driver::start();
    let browser = open_browser(&driver).await;
    let outcome = async {
        sign_in_from_the_page(&browser, &page_url).await?;
        let shown = browser
            .wait()
            .for_element(Locator::XPath("//pre[@id='out'][contains(., 'access_token')]"))
            .await?
            .text()
            .await?;
        // Again, signed in already: straight to consent, and this time deny.
        browser.find(Locator::Id("go")).await?.click().await?;
        browser.wait().for_element(Locator::Css("button[name=deny]")).await?.click().await?;
        let denied = page_error(&browser).await?;
        Ok::<_, fantoccini::error::CmdError>((shown, denied))
    }
    .await;
    let _ = browser.close().await;
    let (shown, denied) = outcome.expect("the browser went through README's page");

    let tokens: Value = serde_json::from_str(&shown).expect("the page shows the token response as JSON");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "read write");
    assert!(text(&tokens, "refresh_token").starts_with("pc_rt_"));
    let me: Value = app.get_user(&text(&tokens, "access_token")).await.json().await.unwrap();
    assert_eq!(me["email"], SPA_EMAIL, "the page's access token is the user's");
    assert_eq!(denied, "access_denied: The user denied the request.");
}

/// The issue's empty box: without the page's origin in `PORTCULLIS_CORS_ORIGINS`, the token
/// request fails in the browser, and the page says so and what to set.
#[actix_web::test]
async fn spa_page_shows_a_failed_token_request_without_cors() {
    let page_origin = MockServer::start().await;
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    app.create_user(SPA_EMAIL, crate::helpers::PASSWORD).await;
    serve_readme_page(&app, &page_origin).await;
    let page_url = format!("{}/callback", page_origin.uri());

    let driver = Driver::start();
    let browser = open_browser(&driver).await;
    let outcome = async {
        sign_in_from_the_page(&browser, &page_url).await?;
        let error = page_error(&browser).await?;
        let out = browser.find(Locator::Id("out")).await?.text().await?;
        Ok::<_, fantoccini::error::CmdError>((error, out))
    }
    .await;
    let _ = browser.close().await;
    let (error, out) = outcome.expect("the browser went through README's page");

    assert!(error.starts_with(&format!("Cannot reach {}", app.address)), "{error}");
    assert!(error.contains(&format!("with {} in PORTCULLIS_CORS_ORIGINS", page_origin.uri())), "{error}");
    assert!(out.is_empty(), "no token response without CORS: {out}");
}

/// Every link in README resolves to a file in the repository: nothing outside it, nothing
/// in the private `../shared` notes.
#[test]
fn every_readme_link_points_at_a_file_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().expect("repository root");
    assert!(!README.contains("SPEC §") && !README.contains("shared/SPEC"), "README cites the private SPEC");
    let mut in_fence = false;
    let mut links = Vec::new();
    for line in README.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        assert!(!line.contains("<http"), "README has an autolink: {line}");
        // Inline links and images: `[text](target)`, `![alt](target)`.
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let end = after.find(')').unwrap_or_else(|| panic!("unclosed link in: {line}"));
            links.push(after[..end].split_whitespace().next().unwrap_or_default().to_owned());
            rest = &after[end..];
        }
        // Reference definitions: `[label]: target`.
        if let Some((label, target)) = line.split_once("]: ") {
            if label.starts_with('[') && !label.contains(' ') {
                links.push(target.trim().to_owned());
            }
        }
    }
    assert!(!links.is_empty(), "no links found: the parser is broken");
    for link in links {
        assert!(
            !link.contains("://") && !link.starts_with("mailto:"),
            "README links outside the repository: {link}"
        );
        assert!(!link.contains("../shared"), "README links the private notes: {link}");
        let file = link.split('#').next().unwrap_or_default();
        if file.is_empty() {
            continue;
        }
        let target =
            root.join(file).canonicalize().unwrap_or_else(|_| panic!("README links a missing file: {link}"));
        assert!(target.starts_with(&root), "README links outside the repository: {link}");
    }
}
