//! Keys that rotate by themselves (SPEC §14): due keys are rotated by one replica only, the
//! new keys are published before they sign, and a token signed by the previous key keeps
//! verifying until it expires.

use diesel::prelude::*;
use portcullis::store::schema::signing_keys;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{spawn_app, text, TestApp, PASSWORD};

const DAY: i64 = 86_400;

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.expect("a kid")
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value =
        app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

both_backends! {
    async fn due_keys_rotate_once_and_sign_only_once_published(backend) {
        let app = spawn_app(backend).await;
        let client = app.confidential_client();
        app.create_user("keys@example.com", PASSWORD).await;
        let before = app.sign_in(&client, "keys@example.com").await;
        let old_kid = kid_of(&text(&before, "access_token"));

        // Thirty-one days pass: the keys are due. Two replicas start at once.
        let now = portcullis::time::now();
        diesel::update(signing_keys::table)
            .set(signing_keys::created_at.eq(now - 31 * DAY))
            .execute(&mut app.db())
            .unwrap();
        let (first, second) = futures::join!(app.replica(), app.replica());
        let rows: Vec<(String, Option<i64>)> = signing_keys::table
            .order(signing_keys::id)
            .select((signing_keys::algorithm, signing_keys::activates_at))
            .load(&mut app.db())
            .unwrap();
        assert_eq!(rows.len(), 4, "one new key of each kind, not two: {rows:?}");
        assert!(rows[2..].iter().all(|(_, at)| at.is_some_and(|at| at > now)), "they sign later: {rows:?}");

        // Published at once, but the old key still signs.
        let published = published_kids(&first).await;
        assert_eq!(published.len(), 4);
        assert_eq!(published_kids(&second).await.len(), 4);
        let during = first.sign_in(&client, "keys@example.com").await;
        assert_eq!(kid_of(&text(&during, "access_token")), old_kid);

        // Ten minutes pass: a server that (re)loads the keys signs with the new one, and
        // the tokens the old key signed still verify there.
        diesel::update(signing_keys::table.filter(signing_keys::activates_at.is_not_null()))
            .set(signing_keys::activates_at.eq(now - 1))
            .execute(&mut app.db())
            .unwrap();
        diesel::update(signing_keys::table.filter(signing_keys::activates_at.is_null()))
            .set(signing_keys::retired_at.eq(now - 1))
            .execute(&mut app.db())
            .unwrap();
        let later = app.replica().await;
        let after = later.sign_in(&client, "keys@example.com").await;
        let new_kid = kid_of(&text(&after, "access_token"));
        assert_ne!(new_kid, old_kid);
        assert!(published.contains(&new_kid), "the key that signs now was published before it signed");
        assert_eq!(later.user_status(&text(&before, "access_token")).await, 200, "the old key's token still verifies");
        assert_eq!(later.user_status(&text(&after, "access_token")).await, 200);

        // Once every token the old keys signed has expired, they leave the key set.
        diesel::update(signing_keys::table.filter(signing_keys::activates_at.is_null()))
            .set(signing_keys::publish_until.eq(now - 1))
            .execute(&mut app.db())
            .unwrap();
        let output = app.cli(&["prune", "--json"], None);
        let deleted: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(deleted["signing_keys"], 2, "{deleted}");
        let last = app.replica().await;
        let kids = published_kids(&last).await;
        assert_eq!(kids.len(), 2);
        assert!(kids.contains(&new_kid) && !kids.contains(&old_kid));
    }
}
