//! Applications: django-oauth-toolkit's clients under their own `client_id`, their grant
//! mapped onto ours (SPEC §11), their secret hashed as ours are when DOT kept it in clear,
//! and kept as DOT hashed it otherwise: `auth::legacy_secrets` checks such a secret at its
//! first use and stores our SHA-256 then, which a re-run leaves alone unless Django's
//! secret changed.

use super::report::{Outcome, Report};
use super::source::{DjangoApplication, Source};
use super::{digest, in_batches, ImportError};
use crate::db::Writer;
use crate::domain::{ClientType, GrantType};
use crate::error::ApiError;
use crate::manage::{check_spec, ApplicationSpec};
use crate::store::applications::{Application, ImportedApplicationChanges, NewApplication};
use crate::store::django_imports::{ImportKind, ImportRecord};
use crate::tokens::random::{sha256_hex, ClientSecret};

pub fn import(
    conn: &mut Writer<'_>,
    source: &mut Source,
    report: &mut Report,
    now: i64,
) -> Result<(), ImportError> {
    in_batches(
        conn,
        report,
        ImportKind::Application,
        |after, limit| source.applications(after, limit),
        |row| row.id,
        |conn, row, _| import_one(conn, row, now),
    )
}

/// DOT's one grant per application, as our allow-list. drf-social-oauth2 converts social
/// tokens with password applications, so those may convert too.
fn grants(dot: &str) -> Option<Vec<GrantType>> {
    use GrantType::*;
    Some(match dot {
        "password" => vec![Password, RefreshToken, ConvertToken],
        "authorization-code" => vec![AuthorizationCode, RefreshToken],
        "client-credentials" => vec![ClientCredentials],
        _ => return None,
    })
}

fn import_one(conn: &mut Writer<'_>, row: &DjangoApplication, now: i64) -> Result<Outcome, ImportError> {
    let Some(grant_types) = grants(&row.authorization_grant_type) else {
        return Ok(Outcome::Skipped(format!(
            "grant type {} has no Portcullis equivalent",
            row.authorization_grant_type
        )));
    };
    let Ok(client_type) = ClientType::parse(&row.client_type) else {
        return Ok(Outcome::Skipped(format!("client type {} is unknown", row.client_type)));
    };
    let name = match row.name.trim() {
        "" => row.client_id.clone(),
        name => name.to_owned(),
    };
    let spec = ApplicationSpec {
        name,
        client_type,
        grant_types,
        redirect_uris: row.redirect_uris.split_whitespace().map(str::to_owned).collect(),
        skip_authorization: row.skip_authorization,
        owner_id: None,
        // django-oauth-toolkit's logout URIs and ID token algorithm are not brought over:
        // an imported application starts with none and RS256, as a new one does.
        ..ApplicationSpec::default()
    };
    // What we refuse to register we do not import either (e.g. a `javascript:` redirect URI).
    if let Err(refused) = check_spec(&spec) {
        let reason = match refused {
            ApiError::InvalidRequest(description) => description,
            other => other.to_string(),
        };
        return Ok(Outcome::Skipped(reason));
    }
    let secret_hash = match client_type {
        ClientType::Public => None,
        _ if row.client_secret.is_empty() => None,
        _ if row.hash_client_secret => Some(row.client_secret.clone()),
        _ => Some(ClientSecret::imported(row.client_secret.clone()).hash()),
    };
    let owner_id = match row.user_id {
        Some(user) => ImportRecord::find(conn, ImportKind::User, user)?.map(|r| r.local_id),
        None => None,
    };
    let grant_types: Vec<&str> = spec.grant_types.iter().map(|g| g.as_str()).collect();
    let grant_types = grant_types.join(" ");
    let redirect_uris = spec.redirect_uris.join(" ");

    // The secret has a digest of its own: a secret Portcullis changed since (rotated, or a
    // Django hash upgraded at first use) is replaced only when Django's changed too.
    let secret_digest = sha256_hex(&format!("{}:{}", row.hash_client_secret, row.client_secret));
    let digest = format!("{}.{secret_digest}", digest(row));
    let (outcome, local_id) = match ImportRecord::find(conn, ImportKind::Application, row.id)? {
        Some(record) => {
            let Some(app) = Application::find(conn, record.local_id)? else {
                return Ok(Outcome::Skipped("deleted in Portcullis after an earlier import".into()));
            };
            if record.digest == digest {
                return Ok(Outcome::Unchanged);
            }
            let changes = ImportedApplicationChanges {
                name: &spec.name,
                client_type: client_type.as_str(),
                grant_types: &grant_types,
                redirect_uris: &redirect_uris,
                skip_authorization: row.skip_authorization,
                owner_id,
                updated_at: now,
            };
            Application::update_imported(conn, app.id, &changes)?;
            if !record.digest.ends_with(&secret_digest) {
                Application::set_optional_secret_hash(conn, app.id, secret_hash.as_deref())?;
            }
            (Outcome::Updated, app.id)
        }
        None => {
            if Application::find_by_client_id(conn, &row.client_id)?.is_some() {
                return Ok(Outcome::Skipped("client_id is taken by a Portcullis application".into()));
            }
            let app = Application::insert(
                conn,
                &NewApplication {
                    client_id: &row.client_id,
                    secret_hash: secret_hash.as_deref(),
                    name: &spec.name,
                    client_type: client_type.as_str(),
                    grant_types: &grant_types,
                    redirect_uris: &redirect_uris,
                    skip_authorization: row.skip_authorization,
                    owner_id,
                    created_at: row.created,
                    updated_at: now,
                    post_logout_redirect_uris: &spec.post_logout_redirect_uris.join(" "),
                    id_token_signed_response_alg: spec.id_token_signed_response_alg.as_str(),
                },
            )?;
            (Outcome::Created, app.id)
        }
    };
    ImportRecord::save(conn, ImportKind::Application, row.id, &ImportRecord { local_id, digest }, now)?;
    Ok(outcome)
}
