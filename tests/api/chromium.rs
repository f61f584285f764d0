//! The sign-in page in a real browser: headless Chromium (Debian's `chromium`) driven
//! over WebDriver by `chromedriver`, from the authorization request to the client's
//! redirect with a code. `tests/setup.sh` installs both.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use fantoccini::{ClientBuilder, Locator};
use portcullis::domain::{ClientType, GrantType};
use portcullis::manage::{self, ApplicationSpec};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::browser::{param, pkce};
use crate::helpers::{spawn_app, text, Backend, TestApp, TestClient};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, stopped with the test.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser test needs Debian's chromium and chromium-driver: run tests/setup.sh"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // chromedriver says when it listens; read up to that line instead of guessing a delay.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.by_ref().map_while(Result::ok).any(|line| line.contains("started successfully"));
        assert!(ready, "chromedriver did not start");
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session on `driver`.
pub async fn open_browser(driver: &Driver) -> fantoccini::Client {
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-dev-shm-usage", "--window-size=1280,900"],
        }
    });
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// A public client whose redirect URI is a page (`<p id="landed">`) the browser lands on.
pub struct LandingClient {
    pub client: TestClient,
    pub redirect_uri: String,
    _page: MockServer,
}

impl LandingClient {
    pub async fn register(app: &TestApp, name: &str, skip_authorization: bool) -> Self {
        let page = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/callback"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(r#"<p id="landed">Back at the app</p>"#, "text/html"),
            )
            .mount(&page)
            .await;
        let redirect_uri = format!("{}/callback", page.uri());
        let created = manage::create_application(
            &mut portcullis::db::Writer::offline(&mut app.db()),
            &ApplicationSpec {
                name: name.into(),
                client_type: ClientType::Public,
                grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                redirect_uris: vec![redirect_uri.clone()],
                skip_authorization,
                owner_id: None,
                ..ApplicationSpec::default()
            },
        )
        .unwrap();
        LandingClient {
            client: TestClient { id: created.client_id, secret: None },
            redirect_uri,
            _page: page,
        }
    }

    /// The authorization request a PKCE client would send with `state` and `challenge`.
    pub fn authorize_url(&self, app: &TestApp, state: &str, challenge: &str) -> url::Url {
        let mut authorize = url::Url::parse(&app.url("/auth/authorize")).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client.id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        authorize
    }
}

#[actix_web::test]
async fn signs_in_on_the_page_and_lands_on_the_redirect_with_a_code() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_user("chromium@example.com", "correct horse battery").await;

    let spa = LandingClient::register(&app, "Chromium SPA", false).await;
    let (client, redirect_uri) = (spa.client.clone(), spa.redirect_uri.clone());
    let (verifier, challenge) = pkce();
    let authorize = spa.authorize_url(&app, "chromium-state", &challenge);

    let driver = Driver::start();
    let browser = open_browser(&driver).await;

    let outcome = async {
        browser.goto(authorize.as_str()).await?;
        browser.find(Locator::Css("input[name=username]")).await?.send_keys("chromium@example.com").await?;
        browser.find(Locator::Css("input[name=password]")).await?.send_keys("correct horse battery").await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        browser.wait().for_element(Locator::Css("button[name=allow]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("landed")).await?;
        browser.current_url().await
    }
    .await;
    let _ = browser.close().await;
    let landed = outcome.expect("the browser went through sign-in and consent");

    assert_eq!(&landed[..url::Position::AfterPath], redirect_uri);
    let params: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert_eq!(param(&params, "state"), Some("chromium-state"));
    let code = param(&params, "code").expect("a code on the redirect");

    let response = app.token(&client).authorization_code(code, &redirect_uri, &verifier).send().await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let user: Value = app.get_user(&text(&tokens, "access_token")).await.json().await.unwrap();
    assert_eq!(user["email"], "chromium@example.com");
}
