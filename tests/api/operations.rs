//! Discovery, health, metrics, CORS, and behaviour when the database goes away.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{
    assert_oauth_error, database_name, postgres_admin_url, spawn_app, spawn_app_with, text, Backend, PASSWORD,
};

both_backends! {
    async fn discovery_documents_name_every_endpoint_and_grant(backend) {
        let app = spawn_app(backend).await;
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            let doc: Value = app.http.get(app.url(path)).send().await.unwrap().json().await.unwrap();
            assert_eq!(doc["issuer"], app.address.as_str());
            assert_eq!(doc["token_endpoint"], format!("{}/auth/token", app.address));
            assert_eq!(doc["jwks_uri"], format!("{}/.well-known/jwks.json", app.address));
            for key in ["authorization_endpoint", "revocation_endpoint", "introspection_endpoint",
                        "token_endpoint_auth_methods_supported", "response_types_supported"] {
                assert!(!doc[key].is_null(), "{path} lacks {key}");
            }
            assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
            let grants: Vec<&str> = doc["grant_types_supported"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
            for grant in ["password", "refresh_token", "client_credentials", "authorization_code", "convert_token",
                          "urn:ietf:params:oauth:grant-type:token-exchange"] {
                assert!(grants.contains(&grant), "{path} lacks {grant}");
            }
        }
    }

    async fn health_readiness_and_metrics_report(backend) {
        let app = spawn_app(backend).await;
        for path in ["/healthz", "/readyz"] {
            let body: Value = app.http.get(app.url(path)).send().await.unwrap().json().await.unwrap();
            assert_eq!(body["status"], "ok", "{path}");
        }
        // Probes and monitors that send HEAD get the GET's status and headers, no body.
        for path in ["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/.well-known/openid-configuration"] {
            let response = app.http.head(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "HEAD {path}");
            let get = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.headers().get("content-type"), get.headers().get("content-type"), "HEAD {path}");
            assert!(response.bytes().await.unwrap().is_empty(), "HEAD {path} sent a body");
        }
        let client = app.confidential_client();
        app.create_user("ada@example.com", PASSWORD).await;
        app.sign_in(&client, "ada@example.com").await;
        let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(
            metrics.lines().any(|l| l.starts_with("portcullis_http_requests_total")
                && l.contains("endpoint=\"/auth/token\"") && l.contains("status=\"200\"")),
            "{metrics}"
        );
        assert!(metrics.contains("portcullis_tokens_issued_total{grant_type=\"password\"} 1"), "{metrics}");
        assert!(metrics.contains("portcullis_http_request_duration_seconds_bucket"));
    }

    async fn cors_allows_only_the_configured_origins(backend) {
        let app = spawn_app_with(backend, |s| {
            s.set("PORTCULLIS_CORS_ORIGINS", "http://localhost:3000");
        })
        .await;
        let preflight = |origin: &'static str| {
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/auth/token"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
        };
        let allowed = preflight("http://localhost:3000").await.unwrap();
        assert_eq!(allowed.headers()["access-control-allow-origin"], "http://localhost:3000");
        let refused = preflight("http://evil.example").await.unwrap();
        assert!(refused.headers().get("access-control-allow-origin").is_none());
        // SPEC §1: every error is JSON, the middleware's refusal too.
        let body = assert_oauth_error(refused, 400, "invalid_request").await;
        assert!(text(&body, "error_description").contains("Origin"), "{body}");
        let post = app.http.post(app.url("/auth/token")).header("origin", "http://evil.example").send().await.unwrap();
        assert_oauth_error(post, 400, "invalid_request").await;
    }
}

/// The database stops accepting connections and comes back: the server answers 503 in
/// between, never 500, and recovers without a restart.
#[actix_web::test]
async fn postgres_outage_answers_503_and_recovers() {
    let app = spawn_app(Backend::Postgres).await;
    let client = app.confidential_client();
    app.create_user("ada@example.com", PASSWORD).await;
    let name = database_name(&app.database_url).to_owned();
    let mut admin = PgConnection::establish(&postgres_admin_url()).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ))
        .unwrap();

    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    let sign_in = || app.token(&client).password("ada@example.com", PASSWORD).send();
    let response = sign_in().await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));

    admin.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).unwrap();
    // The pool reconnects on the next checkout; a few attempts absorb connections that
    // were broken by the outage and are discarded one by one.
    let mut recovered = false;
    for _ in 0..20 {
        if app.http.get(app.url("/readyz")).send().await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "server did not recover");
    assert_eq!(sign_in().await.status(), 200);
}
