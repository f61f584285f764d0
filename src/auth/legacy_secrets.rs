//! Client secrets an import brought over as Django hashes: django-oauth-toolkit 2.0 and
//! later hash them with the first of `PASSWORD_HASHERS`, usually pbkdf2 with a million
//! rounds, far too slow for every token request. The first right secret is checked with
//! its own algorithm, once per server, and then stored as our SHA-256, after which the
//! application authenticates like any other (SPEC §11).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use subtle::ConstantTimeEq;

use super::django_hashes;
use super::passwords::Memory;
use crate::db::Writes;
use crate::error::ApiError;
use crate::store::applications::Application;
use crate::store::audit::{self, NewAuditEvent};
use crate::tokens::random::sha256_hex;

#[derive(Default)]
pub(super) struct LegacySecrets {
    /// Secrets proven against a Django hash, by application and hash: their SHA-256,
    /// for the requests that arrive before the upgrade reaches every cache.
    proven: Mutex<HashMap<(i64, String), String>>,
    /// One Django check at a time on this server, on whichever thread asked: a flood of
    /// wrong secrets for a not yet upgraded client costs one core, not every thread.
    checking: Mutex<()>,
    upgrades: OnceLock<Upgrades>,
}

struct Upgrades {
    writes: Writes,
    runtime: tokio::runtime::Handle,
}

impl LegacySecrets {
    /// Where upgrades are written; without it (the command line) a proven secret is
    /// only remembered.
    pub(super) fn write_upgrades_with(&self, writes: Writes) {
        let runtime = tokio::runtime::Handle::current();
        let _ = self.upgrades.set(Upgrades { writes, runtime });
    }

    /// Whether `secret` is the one `app`'s Django hash `stored` was made from. Refused as
    /// unavailable while another Django check runs on this server.
    pub(super) fn verify(&self, app: &Application, stored: &str, secret: &str) -> Result<bool, ApiError> {
        let presented = sha256_hex(secret);
        let key = (app.id, stored.to_owned());
        if self.is_proven(&key, &presented) {
            return Ok(true);
        }
        let Ok(_turn) = self.checking.try_lock() else {
            return Err(ApiError::unavailable(
                "another client secret is being checked against its Django hash",
            ));
        };
        if self.is_proven(&key, &presented) {
            return Ok(true);
        }
        match django_hashes::verify(stored, secret, &mut Memory::new()) {
            Ok(true) => {
                self.proven.lock().unwrap_or_else(|e| e.into_inner()).insert(key, presented.clone());
                self.upgrade(app, stored, presented);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(error) => {
                tracing::warn!(client_id = %app.client_id, %error, "a Django client secret hash was not checked");
                Ok(false)
            }
        }
    }

    fn is_proven(&self, key: &(i64, String), presented: &str) -> bool {
        let proven = self.proven.lock().unwrap_or_else(|e| e.into_inner());
        proven.get(key).is_some_and(|known| bool::from(known.as_bytes().ct_eq(presented.as_bytes())))
    }

    /// Stores the SHA-256 in place of the Django hash, unless the secret changed meanwhile.
    fn upgrade(&self, app: &Application, stored: &str, hash: String) {
        let Some(Upgrades { writes, runtime }) = self.upgrades.get() else { return };
        let (writes, id, client_id, stored) =
            (writes.clone(), app.id, app.client_id.clone(), stored.to_owned());
        runtime.spawn(async move {
            let written = writes
                .run(move |conn| {
                    conn.transaction(|conn| {
                        if Application::replace_secret_hash(conn, id, &stored, &hash)? == 1 {
                            audit::record(
                                conn,
                                NewAuditEvent {
                                    action: "application.upgrade_secret",
                                    target_type: "application",
                                    target_id: &client_id,
                                    detail: "Django hash replaced by SHA-256 at first use",
                                    ..Default::default()
                                },
                            )?;
                        }
                        Ok::<_, ApiError>(())
                    })
                })
                .await;
            if let Err(error) = written {
                // The next server start, or the next request on another server, tries again.
                tracing::warn!(%error, "a proven Django client secret was not stored as SHA-256");
            }
        });
    }
}
