//! The email flows as people meet them: a reset link followed in headless Chromium, and
//! the server's own log, which must never hold a mailed token when SMTP is configured.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use fantoccini::Locator;
use serde_json::{json, Value};

use crate::both_backends;
use crate::browser::{param, pkce};
use crate::chromium::{open_browser, Driver, LandingClient};
use crate::helpers::{spawn_app_with_mail, text, Backend, OwnDatabase, PASSWORD};
use crate::smtp_sink::SmtpSink;

const NEW_PASSWORD: &str = "a fresh lilac staircase";
const RESET: &str = "/auth/password/reset/confirm";

#[actix_web::test]
async fn a_reset_link_from_a_mail_leads_to_a_sign_in_with_the_new_password() {
    let (app, sink) = spawn_app_with_mail(Backend::Sqlite, |_| {}).await;
    app.create_user("browser@example.com", PASSWORD).await;
    sink.next_to("browser@example.com").await;

    let spa = LandingClient::register(&app, "Reset SPA", true).await;
    let (client, redirect_uri) = (&spa.client, &spa.redirect_uri);

    let asked = app
        .http
        .post(app.url("/auth/password/reset"))
        .json(&json!({ "email": "browser@example.com", "client_id": client.id }))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    let mail = sink.next_to("browser@example.com").await;
    assert!(mail.subject.contains("Reset SPA"), "the mail names the application: {}", mail.subject);

    let (verifier, challenge) = pkce();
    let authorize = spa.authorize_url(&app, "after-reset", &challenge);

    let driver = Driver::start();
    let browser = open_browser(&driver).await;
    let outcome = async {
        browser.goto(&mail.link(RESET)).await?;
        browser.find(Locator::Css("input[name=new_password]")).await?.send_keys(NEW_PASSWORD).await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        // The result page's own element: the form's page also has a heading.
        browser.wait().for_element(Locator::Css("p[role=status]")).await?;
        let heading = browser.find(Locator::Css("h1")).await?.text().await?;
        browser.goto(authorize.as_str()).await?;
        browser.find(Locator::Css("input[name=username]")).await?.send_keys("browser@example.com").await?;
        browser.find(Locator::Css("input[name=password]")).await?.send_keys(NEW_PASSWORD).await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("landed")).await?;
        Ok::<_, fantoccini::error::CmdError>((heading, browser.current_url().await?))
    }
    .await;
    let _ = browser.close().await;
    let (heading, landed) = outcome.expect("the browser reset the password and signed in with it");

    assert_eq!(heading, "Your password was changed");
    let params: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert_eq!(param(&params, "state"), Some("after-reset"));
    let code = param(&params, "code").expect("a code on the redirect");
    let tokens = app.token(client).authorization_code(code, redirect_uri, &verifier).ok().await;
    let user: Value = app.get_user(&text(&tokens, "access_token")).await.json().await.unwrap();
    assert_eq!(user["email"], "browser@example.com");
    assert_eq!(user["email_verified"], true);
}

/// `portcullis serve` as an operator runs it, its log captured.
struct Served {
    child: std::process::Child,
    base: String,
    log: mpsc::Receiver<String>,
}

impl Served {
    fn start(database_url: &str, smtp_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("PORTCULLIS_BIND", "127.0.0.1:0")
            .env("PORTCULLIS_WORKERS", "1")
            .env("PORTCULLIS_SMTP_URL", smtp_url)
            .env("RUST_LOG", "debug")
            .env("PORTCULLIS_JANITOR_INTERVAL", "0")
            .env_remove("PORTCULLIS_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("portcullis serve starts");
        let (lines, log) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        // The server names its address when it listens: read up to that line.
        let base = log
            .iter()
            .find_map(|line| {
                line.contains("portcullis listening")
                    .then(|| {
                        line.split("issuer=")
                            .nth(1)
                            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
                    })
                    .flatten()
            })
            .expect("the server logs where it listens");
        Served { child, base, log }
    }

    /// Stops the server and returns everything it logged after it started listening.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.iter().collect::<Vec<_>>().join("\n")
    }

    /// Signs `email` up (which mails a verification link).
    async fn register(&self, http: &reqwest::Client, email: &str) {
        let registered = http
            .post(format!("{}/auth/register", self.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
    }

    /// Asks the server to stop, as an orchestrator does (SIGTERM).
    fn terminate(&self) {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
    }

    /// Waits for the server to exit by itself: whether it exited cleanly, and its log. On
    /// a thread of its own, so the test's runtime (and the SMTP sink on it) goes on.
    async fn exited(self) -> (bool, String) {
        let Served { mut child, log, .. } = self;
        tokio::task::spawn_blocking(move || {
            let status = child.wait().expect("the server exits");
            (status.success(), log.iter().collect::<Vec<_>>().join("\n"))
        })
        .await
        .unwrap()
    }
}

/// A mail queued just before a stop (a rolling upgrade) still goes out: the stopping
/// server waits for its queue, retries included, before it exits.
#[actix_web::test]
async fn a_stopping_server_delivers_the_mail_it_queued() {
    let db = OwnDatabase::create(Backend::Sqlite);
    let sink = SmtpSink::start().await;
    let served = Served::start(&db.url, &sink.url());
    // No idle connection for the stopping server to wait out.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = |p: &str| format!("{}{p}", served.base);
    served.register(&http, "leaving@example.com").await;
    sink.next_to("leaving@example.com").await;

    sink.set_down(true);
    let asked =
        http.post(url("/auth/password/reset")).json(&json!({ "email": "leaving@example.com" })).send().await;
    assert_eq!(asked.unwrap().status(), 202);
    sink.refusals(1).await;
    served.terminate();
    sink.set_down(false);

    let reset = sink.next_to("leaving@example.com").await;
    assert!(!reset.token(RESET).is_empty());
    let (clean, log) = served.exited().await;
    assert!(clean, "the server did not exit cleanly:\n{log}");
    assert!(!log.contains("not yet delivered"), "{log}");
}

both_backends! {
    async fn no_mailed_token_reaches_the_log(backend) {
        let db = OwnDatabase::create(backend);
        let sink = SmtpSink::start().await;
        let served = Served::start(&db.url, &sink.url());
        let http = reqwest::Client::new();
        let url = |p: &str| format!("{}{p}", served.base);

        served.register(&http, "quiet@example.com").await;
        let verification = sink.next_to("quiet@example.com").await;
        let verify_link = verification.link("/auth/email/verify/confirm");
        assert_eq!(http.get(&verify_link).send().await.unwrap().status(), 200);

        http.post(url("/auth/password/reset")).json(&json!({ "email": "quiet@example.com" })).send().await.unwrap();
        let reset = sink.next_to("quiet@example.com").await;
        let reset_link = reset.link(RESET);
        assert_eq!(http.get(&reset_link).send().await.unwrap().status(), 200);
        let confirmed = http
            .post(url(RESET))
            .header("Accept", "text/html")
            .form(&[("token", reset.token(RESET).as_str()), ("new_password", NEW_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(confirmed.status(), 200);
        assert!(confirmed.text().await.unwrap().contains("Your password was changed"));

        let log = served.stop();
        assert!(log.contains("mail sent"), "the log is captured:\n{log}");
        assert!(log.contains("/auth/password/reset/confirm"), "requests are logged, by path:\n{log}");
        for token in [verification.token("/auth/email/verify/confirm"), reset.token(RESET)] {
            assert!(!log.contains(&token), "a mailed token is in the log:\n{log}");
        }
        assert!(!log.contains("token="), "a link is in the log:\n{log}");
    }
}
