//! `portcullis import-django` (SPEC §11, issue 19) against the drf-social-oauth2 fixtures:
//! the SQLite file for our SQLite database, the restored PostgreSQL dump for our PostgreSQL
//! one. Users, applications, social links and live tokens.

use std::process::Output;

use diesel::prelude::*;
use portcullis::store::schema::{
    access_tokens, applications, django_imports, refresh_tokens, social_accounts, users,
};
use portcullis::store::users::User;
use serde_json::Value;

use crate::both_backends;
use crate::django_fixtures::{fixtures_dir, DjangoSource};
use crate::helpers::{assert_oauth_error, spawn_app, text, Backend, TestApp, TestClient};

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

impl DjangoSource {
    /// Changes the Django database as the project would between two runs.
    fn execute(&self, sql: &str) {
        match self.url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut conn = SqliteConnection::establish(path).expect("the Django copy opens");
                diesel::sql_query(sql).execute(&mut conn).expect("the Django copy changes");
            }
            None => {
                let mut conn = PgConnection::establish(&self.url).expect("the Django database opens");
                diesel::sql_query(sql).execute(&mut conn).expect("the Django database changes");
            }
        }
    }
}

/// Runs the import with `extra` flags and `--json`; returns the report.
fn import(app: &TestApp, source: &DjangoSource, extra: &[&str]) -> Value {
    let mut args = vec!["import-django", "--from", &source.url, "--json"];
    args.extend(extra);
    let output = app.cli(&args, None);
    assert!(output.status.success(), "import failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the report is one JSON object")
}

fn counts(report: &Value, kind: &str) -> (i64, i64, i64) {
    let c = &report[kind];
    (c["created"].as_i64().unwrap(), c["updated"].as_i64().unwrap(), c["skipped"].as_i64().unwrap())
}

fn user(app: &TestApp, id: i64) -> User {
    User::find(&mut app.db(), id).unwrap().unwrap_or_else(|| panic!("user {id} missing"))
}

fn expected_user(expected: &Value, username: &str) -> Value {
    expected["users"].as_array().unwrap().iter().find(|u| u["username"] == username).unwrap().clone()
}

fn expected_client(expected: &Value, id: i64) -> TestClient {
    let app = expected["applications"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap();
    TestClient { id: text(app, "client_id"), secret: app["client_secret"].as_str().map(str::to_owned) }
}

/// The public password application (no secret to check, so only the user's password counts).
fn mobile_client(expected: &Value) -> TestClient {
    TestClient { secret: None, ..expected_client(expected, 4) }
}

fn row_count(app: &TestApp) -> (i64, i64, i64, i64) {
    let conn = &mut app.db();
    (
        users::table.count().get_result(conn).unwrap(),
        applications::table.count().get_result(conn).unwrap(),
        social_accounts::table.count().get_result(conn).unwrap(),
        django_imports::table.count().get_result(conn).unwrap(),
    )
}

/// The clear string of a token `expected.json` lists under `kind` with Django id `id`.
fn dj_token(expected: &Value, kind: &str, id: i64) -> String {
    let token = expected[kind].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap();
    text(token, "token")
}

fn token_rows(app: &TestApp) -> (i64, i64) {
    let conn = &mut app.db();
    (
        refresh_tokens::table.count().get_result(conn).unwrap(),
        access_tokens::table.count().get_result(conn).unwrap(),
    )
}

/// RFC 7009: the client names the token.
async fn revoke(app: &TestApp, client: &TestClient, token: &str) {
    let mut params = client.body();
    params.push(("token", token.to_owned()));
    assert_eq!(app.post_form("/auth/revoke-token", &params).await.status(), 200);
}

fn assert_failed_with(output: &Output, message: &str) {
    assert!(!output.status.success(), "the import should have failed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(message), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "no report on failure: {}", String::from_utf8_lossy(&output.stdout));
}

both_backends! {
    async fn users_applications_and_links_arrive_as_expected_json_lists_them(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        let expected = expected();

        let report = import(&app, &source, &[]);
        assert_eq!(counts(&report, "users"), (13, 0, 0));
        assert_eq!(counts(&report, "applications"), (5, 0, 0));
        assert_eq!(counts(&report, "social_links"), (4, 0, 0));
        // Live ones only: refresh token 4 was revoked by DOT, access token 3 has expired;
        // neither is counted.
        assert_eq!(counts(&report, "refresh_tokens"), (4, 0, 0));
        assert_eq!(counts(&report, "access_tokens"), (4, 0, 0));

        for want in expected["users"].as_array().unwrap() {
            let got = user(&app, want["id"].as_i64().unwrap());
            assert_eq!(got.username, text(want, "username"));
            assert_eq!(got.is_active, want["is_active"].as_bool().unwrap(), "{}", got.username);
            let staff = want["is_staff"].as_bool().unwrap() || want["is_superuser"].as_bool().unwrap();
            assert_eq!(got.is_staff, staff, "{}", got.username);
            let date_joined = chrono::DateTime::parse_from_rfc3339(&text(want, "date_joined")).unwrap();
            assert_eq!(got.date_joined, date_joined.timestamp(), "{}", got.username);
            // Django's hash as it is; an unusable `!...` one is no password at all.
            match want["hasher"].as_str().unwrap() {
                "unusable" => assert_eq!(got.password_hash, None, "{}", got.username),
                hasher => assert!(got.password_hash.as_deref().unwrap().starts_with(hasher), "{}", got.username),
            }
        }
        for gone in expected["deleted_user_ids"].as_array().unwrap() {
            assert!(User::find(&mut app.db(), gone.as_i64().unwrap()).unwrap().is_none());
        }

        // henry is a superuser whose is_staff is false: staff here.
        assert!(user(&app, 12).is_staff);
        // Jane (14) keeps the address, lower-cased as sign-up would; jane (15) comes without one.
        assert_eq!(user(&app, 14).email.as_deref(), Some("jane.doe@example.com"));
        assert_eq!(user(&app, 15).email, None);
        let skipped = report["skipped"].as_array().unwrap();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!((&skipped[0]["kind"], &skipped[0]["django_id"]), (&Value::from("email"), &Value::from(15)));
        assert!(text(&skipped[0], "reason").contains("jane.doe@example.com"), "{}", skipped[0]);

        let conn = &mut app.db();
        for want in expected["applications"].as_array().unwrap() {
            let (grants, uris, skip): (String, String, bool) = applications::table
                .filter(applications::client_id.eq(text(want, "client_id")))
                .select((applications::grant_types, applications::redirect_uris, applications::skip_authorization))
                .get_result(conn)
                .unwrap();
            let want_grants = match want["authorization_grant_type"].as_str().unwrap() {
                "password" => "password refresh_token convert_token",
                "authorization-code" => "authorization_code refresh_token",
                _ => "client_credentials",
            };
            assert_eq!(grants, want_grants);
            assert_eq!(uris, text(want, "redirect_uris"));
            assert_eq!(skip, want["skip_authorization"].as_bool().unwrap());
        }
        let mut links: Vec<(i64, String, String)> = social_accounts::table
            .select((social_accounts::user_id, social_accounts::provider, social_accounts::uid))
            .order(social_accounts::user_id)
            .load(conn)
            .unwrap();
        let mut want: Vec<(i64, String, String)> = expected["social_links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["user_id"].as_i64().unwrap(), text(l, "provider"), text(l, "uid")))
            .collect();
        links.sort();
        want.sort();
        assert_eq!(links, want);
    }

    async fn a_user_signs_in_with_their_django_password_and_a_second_import_keeps_the_upgrade(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        let expected = expected();
        let first = import(&app, &source, &[]);
        let client = mobile_client(&expected);
        let alice = expected_user(&expected, "alice");

        let wrong = app.token(&client).password("alice@example.com", "not alices password").send().await;
        assert_oauth_error(wrong, 400, "invalid_grant").await;
        let tokens = app.token(&client).password("alice@example.com", &text(&alice, "password")).ok().await;
        let me: Value = app.get_user(&text(&tokens, "access_token")).await.json().await.unwrap();
        assert_eq!(me["id"], 1, "sub is the Django id");
        let upgraded = user(&app, 1).password_hash.unwrap();
        assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");

        // jane, without her colliding address, signs in by username.
        let jane = expected_user(&expected, "jane");
        app.token(&client).password("jane", &text(&jane, "password")).ok().await;

        let second = import(&app, &source, &[]);
        for kind in ["users", "applications", "social_links", "refresh_tokens", "access_tokens"] {
            assert_eq!(counts(&second, kind), (0, 0, 0), "{kind}: {second}");
        }
        assert_eq!(second["skipped"], first["skipped"], "the collision is still reported");
        assert_eq!(row_count(&app), (13, 5, 4, 30));
        assert_eq!(user(&app, 1).password_hash.unwrap(), upgraded, "the re-hash survives a re-run");
        app.token(&client).password("alice@example.com", &text(&alice, "password")).ok().await;
    }

    async fn an_interrupted_import_leaves_no_half_imported_user_and_a_rerun_finishes_it(backend) {
        use diesel::connection::SimpleConnection;
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        // The write of user 9's import record fails, as a crash or a lost connection would
        // end the transaction there: user 9's own row was already written in it.
        let (interrupt, resume) = match backend {
            Backend::Sqlite => (
                "CREATE TRIGGER interrupt BEFORE INSERT ON django_imports \
                 WHEN NEW.kind = 'user' AND NEW.django_id = 9 BEGIN SELECT RAISE(ABORT, 'interrupted'); END;",
                "DROP TRIGGER interrupt;",
            ),
            Backend::Postgres => (
                "CREATE FUNCTION interrupt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.kind = 'user' AND NEW.django_id = 9 THEN RAISE EXCEPTION 'interrupted'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER interrupt BEFORE INSERT ON django_imports FOR EACH ROW EXECUTE FUNCTION interrupt();",
                "DROP TRIGGER interrupt ON django_imports; DROP FUNCTION interrupt();",
            ),
        };
        app.db().batch_execute(interrupt).unwrap();

        let args = ["import-django", "--from", source.url.as_str(), "--json"];
        let failed = app.cli(&args, None);
        assert!(!failed.status.success(), "the import should have failed");
        let (users_written, _, _, _) = row_count(&app);
        let recorded: i64 = django_imports::table
            .filter(django_imports::kind.eq("user"))
            .count()
            .get_result(&mut app.db())
            .unwrap();
        assert_eq!(users_written, recorded, "every user written has its import record");
        assert!(User::find(&mut app.db(), 9).unwrap().is_none(), "user 9 was rolled back");

        app.db().batch_execute(resume).unwrap();
        let report = import(&app, &source, &[]);
        assert_eq!(counts(&report, "users").0 + users_written, 13, "{report}");
        assert_eq!(row_count(&app).0, 13);
        assert_eq!(user(&app, 9).id, 9);
    }

    async fn a_dry_run_reports_the_counts_of_a_real_run_and_writes_nothing(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);

        let dry = import(&app, &source, &["--dry-run"]);
        assert_eq!(row_count(&app), (0, 0, 0, 0));
        let real = import(&app, &source, &[]);
        assert_eq!(dry, real);
        assert_eq!(counts(&dry, "users"), (13, 0, 0));
    }

    async fn an_inactive_user_cannot_sign_in_and_a_clear_secret_authenticates(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        let expected = expected();
        import(&app, &source, &[]);

        let ivan = expected_user(&expected, "ivan");
        let refused = app.token(&mobile_client(&expected)).password("ivan@example.com", &text(&ivan, "password")).send().await;
        assert_oauth_error(refused, 400, "invalid_grant").await;

        // The legacy app's secret was kept in clear by DOT: hashed at import, it still works.
        let legacy = expected_client(&expected, 3);
        let bob = expected_user(&expected, "bob");
        app.token(&legacy).password("bob@example.com", &text(&bob, "password")).ok().await;
        app.token(&legacy).basic().password("bob@example.com", &text(&bob, "password")).ok().await;
        let wrong = TestClient { secret: Some("not-the-legacy-secret".into()), ..legacy.clone() };
        let refused = app.token(&wrong).password("bob@example.com", &text(&bob, "password")).send().await;
        assert_oauth_error(refused, 401, "invalid_client").await;

        // DOT hashed app 6's secret (pbkdf2, a million rounds): it authenticates as it is.
        let hashed = expected_client(&expected, 6);
        app.token(&hashed).client_credentials().ok().await;
        let wrong = TestClient { secret: Some("not-the-hashed-secret".into()), ..hashed.clone() };
        assert_oauth_error(app.token(&wrong).client_credentials().send().await, 401, "invalid_client").await;
    }

    async fn sign_ups_after_an_import_get_ids_above_the_imported_ones(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        import(&app, &source, &[]);

        let id = app.create_user("newcomer@example.com", crate::helpers::PASSWORD).await;
        assert!(id > 17, "a sign-up got id {id}, at or below the largest imported id");
    }

    async fn a_django_id_taken_by_a_portcullis_user_is_reported_and_skipped(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        let ours = app.create_user("ours@example.com", crate::helpers::PASSWORD).await;
        assert_eq!(ours, 1, "the first sign-up takes alice's id");

        let report = import(&app, &source, &[]);
        assert_eq!(counts(&report, "users"), (12, 0, 1));
        // alice's Google link goes with her.
        assert_eq!(counts(&report, "social_links"), (3, 0, 1));
        let skipped = report["skipped"].as_array().unwrap();
        assert!(skipped.iter().any(|s| s["kind"] == "user" && s["django_id"] == 1), "{skipped:?}");
        assert!(skipped.iter().any(|s| s["kind"] == "social_link" && s["django_id"] == 2), "{skipped:?}");
        assert_eq!(user(&app, 1).email.as_deref(), Some("ours@example.com"));
    }

    async fn the_source_may_be_on_the_other_backend(backend) {
        let app = spawn_app(backend).await;
        let other = match backend {
            Backend::Sqlite => Backend::Postgres,
            Backend::Postgres => Backend::Sqlite,
        };
        let source = DjangoSource::new(other);
        let expected = expected();

        let report = import(&app, &source, &[]);
        assert_eq!(
            [counts(&report, "users"), counts(&report, "applications"), counts(&report, "social_links")],
            [(13, 0, 0), (5, 0, 0), (4, 0, 0)]
        );
        let carol = expected_user(&expected, "carol");
        app.token(&mobile_client(&expected)).password("carol@example.com", &text(&carol, "password")).ok().await;
        assert_eq!(user(&app, 17).last_login, None);
        assert_eq!(user(&app, 1).date_joined, 1672911000);
    }

    async fn an_unreadable_source_fails_with_a_message(backend) {
        let app = spawn_app(backend).await;
        let missing = match backend {
            Backend::Sqlite => "sqlite:///no/such/django.sqlite3".to_owned(),
            Backend::Postgres => "postgres://postgres@127.0.0.1:5432/no_such_django_database".to_owned(),
        };
        let output = app.cli(&["import-django", "--from", &missing, "--json"], None);
        assert_failed_with(&output, "cannot read the Django database");
        assert_eq!(row_count(&app).0, 0);

        let output = app.cli(&["import-django", "--from", &missing, "--user-table", "auth_user; DROP"], None);
        assert_failed_with(&output, "--user-table");
    }

    async fn live_tokens_arrive_and_an_imported_refresh_token_rotates_once(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        let expected = expected();
        let first = import(&app, &source, &[]);
        assert_eq!((counts(&first, "refresh_tokens"), counts(&first, "access_tokens")), ((4, 0, 0), (4, 0, 0)));
        let web = expected_client(&expected, 1);

        // alice's live access token reads her, and introspects as the web app's.
        let alice_access = dj_token(&expected, "access_tokens", 1);
        let me: Value = app.get_user(&alice_access).await.json().await.unwrap();
        assert_eq!((me["id"].clone(), me["username"].clone()), (Value::from(1), Value::from("alice")));
        let info = app.introspect(&web, &alice_access).await;
        assert_eq!((info["active"].clone(), info["client_id"].clone()), (Value::from(true), Value::from(web.id.clone())));
        assert_eq!((info["sub"].clone(), info["scope"].clone()), (Value::from("1"), Value::from("read write")));
        assert_eq!(info["exp"], 4070908800i64, "DOT's expiry, 2099-01-01");
        // The machine token has no user.
        let reports = expected_client(&expected, 6);
        let info = app.introspect(&reports, &dj_token(&expected, "access_tokens", 6)).await;
        assert_eq!((info["active"].clone(), info["client_id"].clone()), (Value::from(true), Value::from(reports.id.clone())));
        assert_eq!(info["username"], Value::Null, "{info}");

        // The expired access token and the refresh token DOT revoked are of no use.
        let legacy = expected_client(&expected, 3);
        let expired = dj_token(&expected, "access_tokens", 3);
        assert_eq!(app.user_status(&expired).await, 401);
        assert_eq!(app.introspect(&legacy, &expired).await["active"], false);
        let revoked = dj_token(&expected, "refresh_tokens", 4);
        assert_oauth_error(app.token(&web).refresh(&revoked).send().await, 400, "invalid_grant").await;
        // alice's legacy refresh token lives on although its access token expired.
        let legacy_pair = app.token(&legacy).refresh(&dj_token(&expected, "refresh_tokens", 3)).ok().await;
        assert_eq!(legacy_pair["scope"], "read write");

        // The first use rotates alice's web refresh token into ours and ends its access token.
        let alice_refresh = dj_token(&expected, "refresh_tokens", 1);
        let pair = app.token(&web).refresh(&alice_refresh).ok().await;
        let (access, refresh) = (text(&pair, "access_token"), text(&pair, "refresh_token"));
        assert!(refresh.starts_with("pc_rt_"), "{refresh}");
        assert_eq!(pair["scope"], "read write");
        assert_eq!(app.get_user(&access).await.json::<Value>().await.unwrap()["id"], 1);
        assert_eq!(app.user_status(&alice_access).await, 401);
        // A replay is theft: refused, and the new family burns.
        assert_oauth_error(app.token(&web).refresh(&alice_refresh).send().await, 400, "invalid_grant").await;
        assert_eq!(app.user_status(&access).await, 401);
        assert_oauth_error(app.token(&web).refresh(&refresh).send().await, 400, "invalid_grant").await;

        // A second run brings nothing back and writes nothing twice.
        let rows = (row_count(&app), token_rows(&app));
        let second = import(&app, &source, &[]);
        assert_eq!((counts(&second, "refresh_tokens"), counts(&second, "access_tokens")), ((0, 0, 0), (0, 0, 0)));
        assert_eq!((row_count(&app), token_rows(&app)), rows);
        assert_oauth_error(app.token(&web).refresh(&alice_refresh).send().await, 400, "invalid_grant").await;
        assert_eq!(app.user_status(&alice_access).await, 401);
        // What was never used still works after the second run.
        assert_eq!(app.user_status(&dj_token(&expected, "access_tokens", 5)).await, 200);
    }

    async fn imported_tokens_are_revoked_as_spec_section_4_says(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        let expected = expected();
        import(&app, &source, &[]);
        let web = expected_client(&expected, 1);

        // RFC 7009 on an access token ends that token only: jane's refresh token still rotates.
        let jane_access = dj_token(&expected, "access_tokens", 5);
        revoke(&app, &web, &jane_access).await;
        assert_eq!(app.user_status(&jane_access).await, 401);
        assert_eq!(app.introspect(&web, &jane_access).await["active"], false);
        app.token(&web).refresh(&dj_token(&expected, "refresh_tokens", 5)).ok().await;

        // RFC 7009 on a refresh token ends its family, the imported access token with it.
        let alice_access = dj_token(&expected, "access_tokens", 1);
        assert_eq!(app.user_status(&alice_access).await, 200);
        let alice_refresh = dj_token(&expected, "refresh_tokens", 1);
        revoke(&app, &web, &alice_refresh).await;
        assert_eq!(app.user_status(&alice_access).await, 401);
        assert_oauth_error(app.token(&web).refresh(&alice_refresh).send().await, 400, "invalid_grant").await;

        // drf-social-oauth2's form revokes the access token and its refresh token.
        let mobile = mobile_client(&expected);
        let henry_access = dj_token(&expected, "access_tokens", 2);
        let revoked = app
            .http
            .post(app.url("/auth/revoke-token"))
            .bearer_auth(&henry_access)
            .form(&[("client_id", mobile.id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 204);
        assert_eq!(app.user_status(&henry_access).await, 401);
        let henry_refresh = dj_token(&expected, "refresh_tokens", 2);
        assert_oauth_error(app.token(&mobile).refresh(&henry_refresh).send().await, 400, "invalid_grant").await;

        // A re-run revives none of them.
        let second = import(&app, &source, &[]);
        assert_eq!((counts(&second, "refresh_tokens"), counts(&second, "access_tokens")), ((0, 0, 0), (0, 0, 0)));
        assert_eq!(app.user_status(&jane_access).await, 401);
        assert_eq!(app.user_status(&alice_access).await, 401);
        assert_oauth_error(app.token(&mobile).refresh(&henry_refresh).send().await, 400, "invalid_grant").await;
    }

    async fn a_token_django_revoked_after_a_first_run_is_revoked_here_and_a_checksum_alone_suffices(backend) {
        let app = spawn_app(backend).await;
        let source = DjangoSource::new(backend);
        let expected = expected();
        // COMPLIANT_BCP_RFC9700_TOKEN_STORAGE: DOT keeps only the checksums.
        source.execute("UPDATE oauth2_provider_accesstoken SET token = ''");
        source.execute("UPDATE oauth2_provider_refreshtoken SET token = ''");
        import(&app, &source, &[]);
        let alice_access = dj_token(&expected, "access_tokens", 1);
        assert_eq!(app.user_status(&alice_access).await, 200);

        // alice signs out in Django before the cut-over run.
        source.execute("UPDATE oauth2_provider_refreshtoken SET revoked = created WHERE id = 1");
        let second = import(&app, &source, &[]);
        assert_eq!(counts(&second, "refresh_tokens"), (0, 1, 0));
        assert_eq!(app.user_status(&alice_access).await, 401);
        let web = expected_client(&expected, 1);
        let alice_refresh = dj_token(&expected, "refresh_tokens", 1);
        assert_oauth_error(app.token(&web).refresh(&alice_refresh).send().await, 400, "invalid_grant").await;
        // jane's pair, on the same application, is left alone.
        app.token(&web).refresh(&dj_token(&expected, "refresh_tokens", 5)).ok().await;
        assert_eq!(counts(&import(&app, &source, &[]), "refresh_tokens"), (0, 0, 0));
    }
}
