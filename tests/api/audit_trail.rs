//! Every change is in the audit log: the command line's (apps, secrets, keys,
//! superusers), sign-ups and password changes, each read back through the admin API.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app, text, TestApp, TestClient, PASSWORD};
use crate::social_helpers::{facebook_says, spawn_social, FACEBOOK_APP_ID};

/// Reads the audit log as a staff user would, through the admin API.
struct Auditor<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Auditor<'a> {
    async fn new(app: &'a TestApp) -> Self {
        app.create_staff("auditor@example.com", PASSWORD);
        let client = app.confidential_client();
        let staff = app.token(&client).password("auditor@example.com", PASSWORD).scope("admin").ok().await;
        Self { app, token: text(&staff, "access_token") }
    }

    /// The events of `action`, newest first.
    async fn events(&self, action: &str) -> Vec<Value> {
        let response = self
            .app
            .http
            .get(self.app.url(&format!("/admin/api/audit?action={action}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("audit listed");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["items"].as_array().expect("items").clone()
    }

    /// The one event of `action`.
    async fn the_event(&self, action: &str) -> Value {
        let events = self.events(action).await;
        assert_eq!(events.len(), 1, "{action}: {events:?}");
        events[0].clone()
    }
}

/// A command-line change: no user, no address, and the command line named as its origin.
fn assert_from_the_command_line(event: &Value) {
    assert_eq!(event["actor_user_id"], Value::Null, "{event}");
    assert_eq!(event["ip"], Value::Null, "{event}");
    let detail = text(event, "detail");
    assert!(detail.starts_with("cli user=") || detail.starts_with("cli uid="), "{event}");
}

fn run_ok(app: &TestApp, args: &[&str], stdin: Option<&str>) -> String {
    let output = app.cli(args, stdin);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

async fn register(app: &TestApp, body: Value) -> Value {
    let response = app.http.post(app.url("/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn change_password(app: &TestApp, access: &str, body: Value) -> u16 {
    let response =
        app.http.post(app.url("/auth/password")).bearer_auth(access).json(&body).send().await.unwrap();
    response.status().as_u16()
}

both_backends! {
    async fn an_application_created_on_the_command_line_is_audited(backend) {
        let app = spawn_app(backend).await;
        let audit = Auditor::new(&app).await;
        let created: Value = serde_json::from_str(&run_ok(&app, &[
            "app", "create", "--name", "Mobile", "--client-type", "confidential",
            "--grant-types", "password", "--json",
        ], None)).unwrap();
        let event = audit.the_event("application.create").await;
        assert_eq!(event["target_type"], "application");
        assert_eq!(event["target_id"], created["client_id"]);
        assert_from_the_command_line(&event);
        assert!(text(&event, "detail").ends_with("; Mobile"), "{event}");
        assert!(!event.to_string().contains(&text(&created, "client_secret")), "the secret is in {event}");
    }

    async fn a_secret_rotated_on_the_command_line_is_audited_without_it(backend) {
        let app = spawn_app(backend).await;
        let audit = Auditor::new(&app).await;
        let client = app.confidential_client();
        let printed = run_ok(&app, &["app", "rotate-secret", &client.id], None);
        let secret = printed.trim().strip_prefix("client_secret: ").expect("secret printed");
        let event = audit.the_event("application.rotate_secret").await;
        assert_eq!(event["target_id"], json!(client.id));
        assert_from_the_command_line(&event);
        assert!(!event.to_string().contains(secret), "the secret is in {event}");
        // A refused rotation changes nothing and records nothing.
        assert!(!app.cli(&["app", "rotate-secret", "no-such-client"], None).status.success());
        assert_eq!(audit.events("application.rotate_secret").await.len(), 1);
    }

    async fn a_key_rotation_is_audited_with_the_new_key_ids(backend) {
        let app = spawn_app(backend).await;
        let audit = Auditor::new(&app).await;
        run_ok(&app, &["keys", "rotate"], None);
        let mut signing: Vec<String> = {
            use diesel::prelude::*;
            use portcullis::store::schema::signing_keys;
            signing_keys::table
                .filter(signing_keys::retired_at.is_null())
                .select(signing_keys::kid)
                .load(&mut app.db())
                .unwrap()
        };
        let events = audit.events("signing_key.rotate").await;
        let mut audited: Vec<String> = events.iter().map(|e| e["target_id"].as_str().unwrap().to_owned()).collect();
        signing.sort();
        audited.sort();
        assert_eq!(audited, signing, "one event per new key: Ed25519 and RSA");
        for event in &events {
            assert_eq!(event["target_type"], "signing_key");
            assert_from_the_command_line(event);
        }
    }

    async fn a_superuser_created_on_the_command_line_is_audited(backend) {
        let app = spawn_app(backend).await;
        let audit = Auditor::new(&app).await;
        let password = "an admin passphrase";
        let printed = run_ok(&app, &["createsuperuser", "--email", "root@example.com", "--password-stdin"],
            Some(&format!("{password}\n")));
        let id = printed.trim().rsplit_once("(id ").and_then(|(_, id)| id.strip_suffix(')')).expect("id printed");
        let event = audit.the_event("user.create_superuser").await;
        assert_eq!(event["target_type"], "user");
        assert_eq!(event["target_id"], json!(id));
        assert_from_the_command_line(&event);
        assert!(!event.to_string().contains(password), "the password is in {event}");
    }

    async fn a_sign_up_is_audited_with_its_address(backend) {
        let app = spawn_app(backend).await;
        let audit = Auditor::new(&app).await;
        let user = register(&app, json!({ "email": "ada@example.com", "password": PASSWORD })).await;
        let event = audit.the_event("user.register").await;
        assert_eq!(event["actor_user_id"], user["id"]);
        assert_eq!(event["target_type"], "user");
        assert_eq!(event["target_id"], json!(user["id"].to_string()));
        assert_eq!(event["ip"], "127.0.0.1");
        assert_eq!(event["detail"], "");
    }

    async fn a_sign_up_through_a_client_names_the_client(backend) {
        let app = spawn_app(backend).await;
        let audit = Auditor::new(&app).await;
        let client = app.confidential_client();
        let user = register(&app, json!({ "email": "ada@example.com", "password": PASSWORD,
            "client_id": client.id, "client_secret": client.secret })).await;
        let event = audit.the_event("user.register").await;
        assert_eq!(event["actor_user_id"], user["id"]);
        assert_eq!(event["detail"], json!(client.id));
        assert!(!event.to_string().contains(client.secret.as_deref().unwrap()), "the secret is in {event}");
    }

    async fn a_password_change_is_audited_without_the_passwords(backend) {
        let app = spawn_app(backend).await;
        let audit = Auditor::new(&app).await;
        let client = app.confidential_client();
        let id = app.create_user("ada@example.com", PASSWORD).await;
        let access = text(&app.sign_in(&client, "ada@example.com").await, "access_token");
        let wrong = json!({ "old_password": "not the password", "new_password": "a brand new secret" });
        assert_eq!(change_password(&app, &access, wrong).await, 400);
        assert!(audit.events("user.change_password").await.is_empty(), "a refused change is not a change");
        let right = json!({ "old_password": PASSWORD, "new_password": "a brand new secret" });
        assert_eq!(change_password(&app, &access, right).await, 204);
        let event = audit.the_event("user.change_password").await;
        assert_eq!(event["actor_user_id"], json!(id));
        assert_eq!(event["target_id"], json!(id.to_string()));
        assert_eq!(event["ip"], "127.0.0.1");
        assert_eq!(event["detail"], json!(client.id));
        let listed = event.to_string();
        assert!(!listed.contains(PASSWORD) && !listed.contains("a brand new secret"), "{listed}");
        assert!(audit.events("user.set_password").await.is_empty());
    }
}

both_backends! {
    async fn a_first_password_after_a_social_sign_up_is_audited_as_set(backend) {
        let social = spawn_social(backend).await;
        let app = &social.app;
        let audit = Auditor::new(app).await;
        let client: TestClient = app.create_client(
            portcullis::domain::ClientType::Confidential,
            &[portcullis::domain::GrantType::ConvertToken],
        );
        facebook_says(&social, "EAAB-alan", FACEBOOK_APP_ID,
            json!({ "id": "fb-77", "name": "Alan Turing", "email": "alan@example.com" })).await;
        let signed_in = app.convert_token(&client).social("facebook", "EAAB-alan").json().ok().await;
        let access = text(&signed_in, "access_token");
        assert_eq!(change_password(app, &access, json!({ "new_password": "a first passphrase" })).await, 204);
        let event = audit.the_event("user.set_password").await;
        assert_eq!(event["actor_user_id"], signed_in["user"]["id"]);
        assert_eq!(event["ip"], "127.0.0.1");
        assert!(!event.to_string().contains("a first passphrase"));
        assert!(audit.events("user.change_password").await.is_empty());
    }
}
