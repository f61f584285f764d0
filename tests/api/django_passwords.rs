//! Users brought over from Django sign in with their Django password hashes, which the
//! first right password replaces with our argon2id; applications authenticate with
//! secrets django-oauth-toolkit hashed, which the first right secret replaces with our
//! SHA-256 (issue 19, SPEC §11). The hashes are Django's own
//! (`tests/fixtures/django_hashes/vectors.json`).

use portcullis::db::Writer;
use portcullis::store::users::User;
use serde_json::{json, Value};

use crate::both_backends;
use crate::browser::{authorize_path, pkce, public_client, Visitor, REDIRECT};
use crate::helpers::{assert_oauth_error, spawn_app, text, TestApp, TestClient, PASSWORD};

/// One cheap vector per hasher, as Django wrote it, with its password.
fn django_vectors() -> Vec<(String, String, String)> {
    let file: Value =
        serde_json::from_str(include_str!("../fixtures/django_hashes/vectors.json")).expect("vectors.json");
    let mut picked: Vec<(String, String, String)> = Vec::new();
    for vector in file["vectors"].as_array().expect("a list of vectors") {
        let hasher = text(vector, "hasher");
        if vector["cost"] != "low" || picked.iter().any(|(h, _, _)| *h == hasher) {
            continue;
        }
        picked.push((hasher, text(vector, "password"), text(vector, "encoded")));
    }
    assert_eq!(picked.len(), 6, "one per hasher: {picked:?}");
    picked
}

fn stored_hash(app: &TestApp, id: i64) -> String {
    User::find(&mut app.db(), id).unwrap().unwrap().password_hash.expect("a password hash")
}

/// A user as an import leaves them: Django's hash in the password column.
async fn imported_user(app: &TestApp, email: &str, encoded: &str) -> i64 {
    let id = app.create_user(email, PASSWORD).await;
    User::set_password_hash(&mut Writer::offline(&mut app.db()), id, encoded).unwrap();
    id
}

both_backends! {
    async fn each_django_hash_signs_in_once_and_is_then_argon2id(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        for (hasher, password, encoded) in django_vectors() {
            let email = format!("{}@example.com", hasher.replace('_', "-"));
            let id = imported_user(&app, &email, &encoded).await;

            let wrong = app.token(&client).password(&email, "not the password at all").send().await;
            assert_oauth_error(wrong, 400, "invalid_grant").await;
            assert_eq!(stored_hash(&app, id), encoded, "{hasher}: a wrong password changed the hash");

            let right = app.token(&client).password(&email, &password).send().await;
            assert_eq!(right.status(), 200, "{hasher}: {}", right.text().await.unwrap());
            let upgraded = stored_hash(&app, id);
            assert!(upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hasher}: {upgraded}");

            // Now our own hash answers, for the same password only.
            assert_eq!(app.token(&client).password(&email, &password).send().await.status(), 200, "{hasher}");
            let wrong = app.token(&client).password(&email, "not the password at all").send().await;
            assert_oauth_error(wrong, 400, "invalid_grant").await;
        }
    }

    async fn a_django_hash_with_absurd_parameters_is_refused_without_running(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        // A billion pbkdf2 rounds would hold a core for minutes.
        let absurd = "pbkdf2_sha256$1000000000$9QzoJ0pu1HdMSJRHbU9Ppv$p1dGB9ztALYqeg6tDrZH6Ju7S08TDn544lDrfeNnREw=";
        let id = imported_user(&app, "absurd@example.com", absurd).await;
        let refused = app.token(&client).password("absurd@example.com", "correct horse battery staple").send().await;
        assert_oauth_error(refused, 400, "invalid_grant").await;
        assert_eq!(stored_hash(&app, id), absurd);
    }

    async fn an_unusable_django_password_never_signs_in(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        let unusable = "!vSnQZDVWo45bweDNmgEmTCHfBO6KLMnJvTQV4LFL";
        let id = imported_user(&app, "social@example.com", unusable).await;
        for password in ["correct horse battery staple", unusable, "vSnQZDVWo45bweDNmgEmTCHfBO6KLMnJvTQV4LFL"] {
            let refused = app.token(&client).password("social@example.com", password).send().await;
            assert_oauth_error(refused, 400, "invalid_grant").await;
        }
        assert_eq!(stored_hash(&app, id), unusable);
    }

    async fn the_sign_in_page_and_a_password_change_check_django_hashes_too(backend) {
        let app = spawn_app(backend).await;
        let vectors = django_vectors();
        let (hasher, password, encoded) = vectors.iter().find(|(h, _, _)| h == "bcrypt_sha256").unwrap();

        // The authorization page's sign-in upgrades the hash like the password grant.
        let client = public_client(&app);
        let id = imported_user(&app, "reader@example.com", encoded).await;
        let (_, challenge) = pkce();
        let mut visitor = Visitor::new(&app);
        let page = visitor.sign_in(&authorize_path(&client, REDIRECT, Some(&challenge)), "reader@example.com", password).await;
        assert!(page.is_consent(), "{hasher}: not signed in: {}", page.body);
        assert!(stored_hash(&app, id).starts_with("$argon2id$"));

        // The old password of a change is checked against the Django hash as well.
        let confidential = app.confidential_client();
        let id = imported_user(&app, "changer@example.com", encoded).await;
        let access = {
            // Sign in once (which upgrades), then put the Django hash back.
            let signed_in = app.token(&confidential).password("changer@example.com", password).ok().await;
            User::set_password_hash(&mut Writer::offline(&mut app.db()), id, encoded).unwrap();
            text(&signed_in, "access_token")
        };
        let changed = app
            .http
            .post(app.url("/auth/password"))
            .bearer_auth(&access)
            .json(&json!({ "old_password": password, "new_password": "a brand new passphrase" }))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 204, "{}", changed.text().await.unwrap());
        app.token(&confidential).password("changer@example.com", "a brand new passphrase").ok().await;
        let old = app.token(&confidential).password("changer@example.com", password).send().await;
        assert_oauth_error(old, 400, "invalid_grant").await;
    }

    async fn a_django_hashed_client_secret_authenticates_and_is_then_stored_as_sha256(backend) {
        use diesel::prelude::*;
        use portcullis::store::schema::applications;
        let app = spawn_app(backend).await;
        let created = app.confidential_client();
        let vectors = django_vectors();
        let (_, secret, encoded) = vectors.iter().find(|(h, _, _)| h == "pbkdf2_sha256").unwrap();
        app.change_applications(|conn| {
            diesel::update(applications::table.filter(applications::client_id.eq(&created.id)))
                .set(applications::secret_hash.eq(encoded))
                .execute(conn)
        });
        let client = TestClient { id: created.id.clone(), secret: Some(secret.clone()) };
        let stored = || -> Option<String> {
            applications::table
                .filter(applications::client_id.eq(&client.id))
                .select(applications::secret_hash)
                .first(&mut app.db())
                .unwrap()
        };

        let wrong = app.token(&client).client_credentials().secret("not the secret").send().await;
        assert_oauth_error(wrong, 401, "invalid_client").await;
        assert_eq!(stored().as_deref(), Some(encoded.as_str()));
        let first = app.token(&client).client_credentials().send().await;
        assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());

        // The upgrade is written beside the request, not in it: wait for it, bounded.
        let ours = portcullis::tokens::random::sha256_hex(secret);
        let mut waited = 0;
        while stored().as_deref() != Some(ours.as_str()) {
            assert!(waited < 500, "the secret was not stored as SHA-256: {:?}", stored());
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            waited += 1;
        }
        let events = portcullis::store::audit::recent(&mut app.db(), "application.upgrade_secret", 5).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].target_id, client.id);
        assert!(!events[0].detail.contains(secret.as_str()));
        assert_eq!(app.token(&client).client_credentials().basic().send().await.status(), 200);
        let wrong = app.token(&client).client_credentials().secret("not the secret").send().await;
        assert_oauth_error(wrong, 401, "invalid_client").await;
    }

    async fn a_django_client_hash_with_absurd_parameters_is_refused_not_run(backend) {
        use diesel::prelude::*;
        use portcullis::store::schema::applications;
        let app = spawn_app(backend).await;
        let created = app.confidential_client();
        let absurd = "pbkdf2_sha256$1000000000$9QzoJ0pu1HdMSJRHbU9Ppv$p1dGB9ztALYqeg6tDrZH6Ju7S08TDn544lDrfeNnREw=";
        app.change_applications(|conn| {
            diesel::update(applications::table.filter(applications::client_id.eq(&created.id)))
                .set(applications::secret_hash.eq(absurd))
                .execute(conn)
        });
        let client = TestClient { id: created.id.clone(), secret: Some("correct horse battery staple".into()) };
        let refused = app.token(&client).client_credentials().send().await;
        assert_oauth_error(refused, 401, "invalid_client").await;
    }
}
