//! SPEC §12 over HTTP with a real SMTP server in the test (`smtp_sink`): password reset,
//! verification, change of address, the mail cap, the verified-email policy, and an SMTP
//! server that is down.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{assert_oauth_error, spawn_app_with_mail, text, TestApp, PASSWORD};
use crate::smtp_sink::{ReceivedMail, SmtpSink};

const NEW_PASSWORD: &str = "a brand new passphrase";
const RESET: &str = "/auth/password/reset/confirm";
const VERIFY: &str = "/auth/email/verify/confirm";
const CHANGE: &str = "/auth/email/confirm";

/// Signs `email` up and takes the verification mail that sign-up sends.
async fn sign_up(app: &TestApp, sink: &SmtpSink, email: &str) -> ReceivedMail {
    app.create_user(email, PASSWORD).await;
    let mail = sink.next_to(email).await;
    assert!(mail.subject.starts_with("Confirm your email address"), "{}", mail.subject);
    mail
}

async fn ask_reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.http.post(app.url("/auth/password/reset")).json(&json!({ "email": email })).send().await.unwrap()
}

async fn confirm_reset(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    app.http
        .post(app.url(RESET))
        .json(&json!({ "token": token, "new_password": new_password }))
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, access_token: &str) -> Value {
    let response = app.get_user(access_token).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

both_backends! {
    async fn a_reset_link_sets_a_new_password_once_and_ends_every_session(backend) {
        let (app, sink) = spawn_app_with_mail(backend, |_| {}).await;
        let client = app.confidential_client();
        sign_up(&app, &sink, "reset@example.com").await;
        let before = app.sign_in(&client, "reset@example.com").await;

        let response = ask_reset(&app, "Reset@Example.com").await;
        assert_eq!(response.status(), 202);
        let mail = sink.next_to("reset@example.com").await;
        assert!(mail.subject.contains("Reset your"), "{}", mail.subject);
        let link = mail.link(RESET);
        assert!(link.starts_with(&app.url(&format!("{RESET}?token="))), "{link}");
        assert!(mail.html.contains(&link), "the HTML part carries the same link");
        let token = mail.token(RESET);
        assert!(token.len() >= 43, "256 bits of token: {token}");

        // The link opens a form.
        let page = app.http.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        let html = page.text().await.unwrap();
        assert!(html.contains("name=\"new_password\"") && html.contains(&token), "{html}");

        // A weak password is refused by field and leaves the link usable.
        let weak = confirm_reset(&app, &token, "12345678").await;
        let body = assert_oauth_error(weak, 400, "invalid_request").await;
        assert!(body["fields"]["new_password"].as_array().is_some_and(|p| !p.is_empty()), "{body}");

        let done = confirm_reset(&app, &token, NEW_PASSWORD).await;
        assert_eq!(done.status(), 200);
        let again = confirm_reset(&app, &token, "another fine passphrase").await;
        let body = assert_oauth_error(again, 400, "invalid_grant").await;
        assert!(text(&body, "error_description").contains("already been used"), "{body}");

        // The old password, the old access token and the old refresh token are all dead.
        let old = app.token(&client).password("reset@example.com", PASSWORD).send().await;
        assert_oauth_error(old, 400, "invalid_grant").await;
        assert_eq!(app.user_status(&text(&before, "access_token")).await, 401);
        let refresh = app.token(&client).refresh(&text(&before, "refresh_token")).send().await;
        assert_oauth_error(refresh, 400, "invalid_grant").await;

        let after = app.token(&client).password("reset@example.com", NEW_PASSWORD).ok().await;
        let user = me(&app, &text(&after, "access_token")).await;
        assert_eq!(user["email_verified"], true, "the reset mail reached the address");
    }

    async fn an_unknown_address_gets_the_same_answer_and_no_mail(backend) {
        let (app, sink) = spawn_app_with_mail(backend, |_| {}).await;
        sign_up(&app, &sink, "known@example.com").await;

        let unknown = ask_reset(&app, "nobody@example.com").await;
        assert_eq!(unknown.status(), 202);
        let unknown: Value = unknown.json().await.unwrap();
        let known = ask_reset(&app, "known@example.com").await;
        assert_eq!(known.status(), 202);
        let known: Value = known.json().await.unwrap();
        assert_eq!(unknown, known);

        // Mail leaves in the order it was asked for: had the unknown address been mailed,
        // that mail would come first.
        sink.next_to("known@example.com").await;

        let malformed = ask_reset(&app, "not an address").await;
        let body = assert_oauth_error(malformed, 400, "invalid_request").await;
        assert!(body["fields"]["email"].is_array(), "{body}");
    }

    async fn a_newer_link_replaces_the_older_and_links_expire(backend) {
        let (app, sink) = spawn_app_with_mail(backend, |_| {}).await;
        let client = app.confidential_client();
        sign_up(&app, &sink, "twice@example.com").await;

        ask_reset(&app, "twice@example.com").await;
        let first = sink.next_to("twice@example.com").await.token(RESET);
        ask_reset(&app, "twice@example.com").await;
        let second = sink.next_to("twice@example.com").await.token(RESET);
        assert_ne!(first, second);

        let replaced = confirm_reset(&app, &first, NEW_PASSWORD).await;
        assert_oauth_error(replaced, 400, "invalid_grant").await;
        let page = app.http.get(app.url(&format!("{RESET}?token={first}"))).send().await.unwrap();
        assert_eq!(page.status(), 400, "the replaced link's page says it cannot be used");

        // Thirty minutes pass.
        {
            use diesel::prelude::*;
            use portcullis::store::schema::email_tokens;
            diesel::update(email_tokens::table)
                .set(email_tokens::expires_at.eq(portcullis::time::now() - 1))
                .execute(&mut app.db())
                .unwrap();
        }
        let expired = confirm_reset(&app, &second, NEW_PASSWORD).await;
        let body = assert_oauth_error(expired, 400, "invalid_grant").await;
        assert!(text(&body, "error_description").contains("expired"), "{body}");
        app.token(&client).password("twice@example.com", PASSWORD).ok().await;
    }

    async fn reset_mails_are_capped_per_address_and_requests_per_client_address(backend) {
        let (app, sink) = spawn_app_with_mail(backend, |raw| {
            raw.set("PORTCULLIS_THROTTLE_ADDRESS_FAILURES", "6");
        })
        .await;
        sign_up(&app, &sink, "capped@example.com").await;
        sign_up(&app, &sink, "other@example.com").await;

        for _ in 0..4 {
            assert_eq!(ask_reset(&app, "capped@example.com").await.status(), 202);
        }
        assert_eq!(ask_reset(&app, "other@example.com").await.status(), 202);
        for _ in 0..3 {
            sink.next_to("capped@example.com").await;
        }
        // The fourth request sent nothing: the next mail is the other address's.
        sink.next_to("other@example.com").await;

        // Six requests from this address so far; the seventh is refused like a seventh
        // failed sign-in would be.
        assert_eq!(ask_reset(&app, "other@example.com").await.status(), 202);
        let refused = ask_reset(&app, "other@example.com").await;
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().get("retry-after").is_some());
    }

    async fn verification_links_flip_email_verified(backend) {
        let (app, sink) = spawn_app_with_mail(backend, |_| {}).await;
        let client = app.confidential_client();
        let first = sign_up(&app, &sink, "verify@example.com").await;
        let tokens = app.sign_in(&client, "verify@example.com").await;
        let access = text(&tokens, "access_token");
        assert_eq!(me(&app, &access).await["email_verified"], false);

        // Another mail on request replaces the first link.
        let again = app.http.post(app.url("/auth/email/verify")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(again.status(), 202);
        let second = sink.next_to("verify@example.com").await;
        let stale = app.http.get(first.link(VERIFY)).send().await.unwrap();
        assert_eq!(stale.status(), 400);
        assert!(stale.text().await.unwrap().contains("not valid"));

        let page = app.http.get(second.link(VERIFY)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("verify@example.com is confirmed"));
        assert_eq!(me(&app, &access).await["email_verified"], true);

        let used = app
            .http
            .post(app.url(VERIFY))
            .json(&json!({ "token": second.token(VERIFY) }))
            .send()
            .await
            .unwrap();
        assert_oauth_error(used, 400, "invalid_grant").await;
        let verified = app.http.post(app.url("/auth/email/verify")).bearer_auth(&access).send().await.unwrap();
        assert_oauth_error(verified, 400, "invalid_request").await;
    }

    async fn required_verification_refuses_right_and_wrong_passwords_alike(backend) {
        let (app, sink) = spawn_app_with_mail(backend, |raw| {
            raw.set("PORTCULLIS_REQUIRE_VERIFIED_EMAIL", "true");
        })
        .await;
        let client = app.confidential_client();
        sign_up(&app, &sink, "strict@example.com").await;

        let right = app.token(&client).password("strict@example.com", PASSWORD).send().await;
        let right = assert_oauth_error(right, 400, "invalid_grant").await;
        let wrong = app.token(&client).password("strict@example.com", "not the password").send().await;
        let wrong = assert_oauth_error(wrong, 400, "invalid_grant").await;
        assert_eq!(right, wrong);
        assert!(text(&right, "error_description").contains("not verified"), "{right}");

        // Only the right password sent its owner a fresh link.
        let reminder = sink.next_to("strict@example.com").await;
        let verified = app
            .http
            .post(app.url(VERIFY))
            .form(&[("token", reminder.token(VERIFY))])
            .send()
            .await
            .unwrap();
        assert_eq!(verified.status(), 200);
        let user: Value = verified.json().await.unwrap();
        assert_eq!(user["email_verified"], true);
        app.token(&client).password("strict@example.com", PASSWORD).ok().await;
    }

    async fn a_new_address_needs_the_password_and_applies_only_through_its_link(backend) {
        let (app, sink) = spawn_app_with_mail(backend, |_| {}).await;
        let client = app.confidential_client();
        sign_up(&app, &sink, "old@example.com").await;
        sign_up(&app, &sink, "taken@example.com").await;
        let access = text(&app.sign_in(&client, "old@example.com").await, "access_token");
        let change = |body: Value| {
            app.http.post(app.url("/auth/email")).bearer_auth(&access).json(&body).send()
        };

        let wrong = change(json!({ "new_email": "new@example.com", "password": "not it" })).await.unwrap();
        let body = assert_oauth_error(wrong, 400, "invalid_request").await;
        assert!(body["fields"]["password"].is_array(), "{body}");
        let taken = change(json!({ "new_email": "taken@example.com", "password": PASSWORD })).await.unwrap();
        let body = assert_oauth_error(taken, 400, "invalid_request").await;
        assert!(body["fields"]["new_email"].is_array(), "{body}");

        let asked = change(json!({ "new_email": "New@Example.com", "password": PASSWORD })).await.unwrap();
        assert_eq!(asked.status(), 202);
        assert_eq!(me(&app, &access).await["email"], "old@example.com", "nothing changes before the link");
        let mail = sink.next_to("new@example.com").await;

        let page = app.http.get(mail.link(CHANGE)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let user = me(&app, &access).await;
        assert_eq!(user["email"], "new@example.com");
        assert_eq!(user["email_verified"], true);

        let notice = sink.next_to("old@example.com").await;
        assert!(notice.text.contains("new@example.com"), "{}", notice.text);
        assert!(!notice.raw.contains("token"), "the old address gets no link");

        app.token(&client).password("new@example.com", PASSWORD).ok().await;
        let gone = app.token(&client).password("old@example.com", PASSWORD).send().await;
        assert_oauth_error(gone, 400, "invalid_grant").await;
        let reused = app.http.get(mail.link(CHANGE)).send().await.unwrap();
        assert_eq!(reused.status(), 400);
    }

    async fn smtp_down_still_answers_and_the_mail_goes_out_when_it_is_back(backend) {
        let (app, sink) = spawn_app_with_mail(backend, |_| {}).await;
        sink.set_down(true);
        app.create_user("patient@example.com", PASSWORD).await;
        assert_eq!(ask_reset(&app, "patient@example.com").await.status(), 202);

        // Two refused deliveries: the first is counted by the time the second is tried.
        sink.refusals(2).await;
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let failures = metric(&metrics, "portcullis_mail_failures_total{kind=\"verification\"}");
        assert!(failures >= 1.0, "{metrics}");

        sink.set_down(false);
        let verification = sink.next_to("patient@example.com").await;
        assert!(verification.subject.starts_with("Confirm"));
        let reset = sink.next_to("patient@example.com").await;
        let done = confirm_reset(&app, &reset.token(RESET), NEW_PASSWORD).await;
        assert_eq!(done.status(), 200, "the link works though its mail was late");
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert_eq!(metric(&metrics, "portcullis_mail_sent_total{kind=\"password_reset\"}"), 1.0);
    }
}

/// The value of the Prometheus sample named exactly `sample`, or 0 when absent.
fn metric(metrics: &str, sample: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0)
}
