//! The admin console in headless Chromium: a staff user signs in, registers an
//! application and reads its secret once, revokes a sign-in, deactivates a user; a
//! non-staff user cannot reach it. With `PORTCULLIS_SCREENSHOTS=dir` the main pages are
//! saved there (that is how the pictures in docs/screenshots are made).

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::chromium::{open_browser, Driver};
use crate::helpers::{
    assert_oauth_error, spawn_app, spawn_app_with_mail, text, Backend, TestClient, PASSWORD,
};

const STAFF: &str = "admin@example.com";

async fn screenshot(browser: &Client, name: &str) {
    if let Ok(dir) = std::env::var("PORTCULLIS_SCREENSHOTS") {
        let png = browser.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

async fn sign_in(browser: &Client, base: &str, email: &str) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&format!("{base}/admin/")).await?;
    // Not signed in: the console sends the browser to its sign-in page.
    browser.wait().for_element(Locator::Css("input[name=username]")).await?.send_keys(email).await?;
    browser.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
    browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
    // The click returns before the form's navigation ends; until the console's URL is
    // reached, every element found still belongs to the sign-in page.
    arrive(browser, &format!("{base}/admin/")).await
}

async fn arrive(browser: &Client, url: &str) -> Result<(), fantoccini::error::CmdError> {
    browser.wait().for_url(&url::Url::parse(url).expect("a URL")).await
}

/// Clicks `button`, then Confirm in the console's dialog.
async fn click_and_confirm(browser: &Client, button: Locator<'_>) -> Result<(), fantoccini::error::CmdError> {
    browser.wait().for_element(button).await?.click().await?;
    browser.wait().for_element(Locator::Css("dialog[open] #confirm-ok")).await?.click().await?;
    Ok(())
}

#[actix_web::test]
async fn staff_manage_applications_tokens_and_users_and_others_are_kept_out() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_staff(STAFF, PASSWORD);
    let client = app.confidential_client();
    let worker = app.create_user("worker@example.com", PASSWORD).await;
    let pair = app.sign_in(&client, "worker@example.com").await;
    app.create_user("member@example.com", PASSWORD).await;
    let base = app.address.clone();

    let driver = Driver::start();
    let browser = open_browser(&driver).await;
    let outcome: Result<(String, String, [String; 2]), fantoccini::error::CmdError> = async {
        sign_in(&browser, &base, STAFF).await?;
        browser.wait().for_element(Locator::Css(".cards")).await?;
        screenshot(&browser, "dashboard").await;

        browser.goto(&format!("{base}/admin/#/applications")).await?;
        browser.wait().for_element(Locator::Id("app-name")).await?.send_keys("Console app").await?;
        browser.find(Locator::Css("input[value=client_credentials]")).await?.click().await?;
        browser.find(Locator::Css("#new-application button[type=submit]")).await?.click().await?;
        let secret = browser.wait().for_element(Locator::Id("client-secret")).await?.text().await?;
        let client_id = browser.find(Locator::Id("client-id")).await?.text().await?;
        screenshot(&browser, "applications").await;
        browser
            .find(Locator::XPath("//tr[td[text()='Console app']]//button[text()='Edit']"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::Css("#edit-application input[name=skip_authorization]"))
            .await?
            .click()
            .await?;
        browser
            .find(Locator::Css("#edit-application select[name=id_token_signed_response_alg]"))
            .await?
            .select_by_value("EdDSA")
            .await?;
        browser
            .find(Locator::Css("#edit-application textarea[name=post_logout_redirect_uris]"))
            .await?
            .send_keys("https://console.example/signed-out")
            .await?;
        browser.find(Locator::Css("#edit-application button[type=submit]")).await?.click().await?;
        browser.wait().for_element(Locator::Css("p.notice")).await?;

        browser.goto(&format!("{base}/admin/#/tokens?user={worker}")).await?;
        let holder = browser.wait().for_element(Locator::Css("td span.person")).await?.text().await?;
        click_and_confirm(&browser, Locator::Css("button[data-token^=refresh-]")).await?;
        // The worker's only sign-in is gone: the list is empty.
        browser.wait().for_element(Locator::Css("td.muted")).await?;

        browser.goto(&format!("{base}/admin/#/users?q=worker")).await?;
        click_and_confirm(&browser, Locator::Css(&format!("button[data-user='{worker}']"))).await?;
        browser.wait().for_element(Locator::XPath("//td[text()='deactivated']")).await?;
        screenshot(&browser, "users").await;
        browser.set_window_size(390, 844).await?;
        screenshot(&browser, "users-phone").await;
        browser.set_window_size(1280, 900).await?;
        browser.goto(&format!("{base}/admin/#/audit")).await?;
        let deactivation =
            browser.wait().for_element(Locator::XPath("//tr[td[text()='user.deactivate']]")).await?;
        let deactivation = deactivation.text().await?;
        screenshot(&browser, "audit").await;

        // Sign out, then a member who is not staff tries.
        browser.find(Locator::Css("form.signout button")).await?.click().await?;
        arrive(&browser, &format!("{base}/admin/login")).await?;
        sign_in(&browser, &base, "member@example.com").await?;
        let heading = browser.wait().for_element(Locator::Css("h1")).await?.text().await?;
        Ok((format!("{client_id}\n{secret}"), heading, [holder, deactivation]))
    }
    .await;
    let _ = browser.close().await;
    let (created, refused_heading, [holder, deactivation]) =
        outcome.expect("the console went through every step");
    // People are named by email, not by number.
    assert_eq!(holder, "worker@example.com");
    assert!(deactivation.contains(STAFF) && deactivation.contains("worker@example.com"), "{deactivation}");

    // The secret read off the page works, once registered.
    let (client_id, secret) = created.split_once('\n').unwrap();
    let console_client = TestClient { id: client_id.to_owned(), secret: Some(secret.to_owned()) };
    let response = app.token(&console_client).client_credentials().send().await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(!text(&body, "access_token").is_empty());

    // The edit saved: the application now skips the consent page.
    let edited = portcullis::store::applications::Application::find_by_client_id(&mut app.db(), client_id)
        .unwrap()
        .unwrap();
    assert!(edited.skip_authorization);
    assert_eq!(edited.grant_types, "client_credentials");
    assert_eq!(edited.id_token_signed_response_alg, "EdDSA");
    assert_eq!(edited.post_logout_redirect_uris, "https://console.example/signed-out");

    // The revoked sign-in and the deactivated user are dead over HTTP too.
    assert_eq!(app.user_status(&text(&pair, "access_token")).await, 401);
    let refresh = app.token(&client).refresh(&text(&pair, "refresh_token")).send().await;
    assert_oauth_error(refresh, 400, "invalid_grant").await;
    let retry = app.token(&client).password("worker@example.com", PASSWORD).send().await;
    assert_oauth_error(retry, 400, "invalid_grant").await;

    assert_eq!(refused_heading, "Staff only");
}

/// The users page says whose address is verified, and mails a user a password-reset link.
#[actix_web::test]
async fn staff_see_unverified_addresses_and_send_a_reset_mail() {
    let (app, sink) = spawn_app_with_mail(Backend::Sqlite, |_| {}).await;
    app.create_staff(STAFF, PASSWORD);
    let member = app.create_user("forgetful@example.com", PASSWORD).await;
    sink.next_to("forgetful@example.com").await;
    let base = app.address.clone();

    let driver = Driver::start();
    let browser = open_browser(&driver).await;
    let outcome: Result<(String, String), fantoccini::error::CmdError> = async {
        sign_in(&browser, &base, STAFF).await?;
        browser.goto(&format!("{base}/admin/#/users?q=forgetful")).await?;
        let badge = browser.wait().for_element(Locator::Css("td span.badge")).await?.text().await?;
        click_and_confirm(&browser, Locator::XPath("//button[text()='Send reset mail']")).await?;
        let status = browser.wait().for_element(Locator::Css("p.status")).await?.text().await?;
        Ok((badge, status))
    }
    .await;
    let _ = browser.close().await;
    let (badge, status) = outcome.expect("the console sent the mail");
    assert_eq!(badge, "unverified");
    assert!(status.contains("forgetful@example.com"), "{status}");

    let mail = sink.next_to("forgetful@example.com").await;
    let token = mail.token("/auth/password/reset/confirm");
    let reset = app
        .http
        .post(app.url("/auth/password/reset/confirm"))
        .json(&serde_json::json!({ "token": token, "new_password": "set by the member" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let sent = portcullis::store::audit::recent(&mut app.db(), "user.send_password_reset", 5).unwrap();
    assert_eq!(sent.len(), 1, "the send is audited");
    assert_eq!(sent[0].target_id, member.to_string());
}

/// A replica that never confirms an application change (stuck): the console still
/// rotates the secret, shows it once, and warns the operator above it.
#[actix_web::test]
async fn the_console_warns_when_a_server_did_not_confirm_a_change() {
    let app = spawn_app(Backend::Postgres).await;
    app.create_staff(STAFF, PASSWORD);
    let client = app.confidential_client();
    let _stuck = portcullis::db::listen::Listener::connect(
        &app.database_url,
        "portcullis_applications",
        "portcullis_client_cache",
    )
    .expect("listens");
    let base = app.address.clone();

    let driver = Driver::start();
    let browser = open_browser(&driver).await;
    let outcome: Result<(String, String), fantoccini::error::CmdError> = async {
        sign_in(&browser, &base, STAFF).await?;
        browser.goto(&format!("{base}/admin/#/applications")).await?;
        let row = format!("//tr[td/code[text()='{}']]//button[text()='Rotate secret']", client.id);
        click_and_confirm(&browser, Locator::XPath(&row)).await?;
        // The rotation waits out the stuck replica (5 s) before it answers; on a loaded
        // machine the page may take a while longer.
        let secret = browser
            .wait()
            .at_most(std::time::Duration::from_secs(90))
            .for_element(Locator::Id("client-secret"))
            .await?
            .text()
            .await?;
        let warning = browser.find(Locator::Css("#view > p.error")).await?.text().await?;
        Ok((secret, warning))
    }
    .await;
    let _ = browser.close().await;
    let (secret, warning) = outcome.expect("the console rotated the secret");
    assert!(warning.contains("1 running server(s) did not confirm"), "{warning}");
    let rotated = TestClient { id: client.id.clone(), secret: Some(secret) };
    let response = app.token(&rotated).client_credentials().send().await;
    assert_eq!(response.status(), 200, "the secret shown works");
}
