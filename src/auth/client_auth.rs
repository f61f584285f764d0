//! "Who is this client, and may it do this?": the one place that answers, for every
//! route that takes client credentials.
//!
//! Two ways to ask. `authorize` answers inside a database job. `admit` answers before
//! one, from memory when it can, for a grant whose next step is a write job (convert
//! calls the provider in between, and holds no connection while it does); the write
//! job then `confirm`s the answer, which on SQLite is the only place a stale entry can
//! be caught (see `stamped_clients`).

use std::sync::Arc;

use super::client::{ClientCredentials, UNKNOWN};
use super::client_cache::ClientCache;
use super::legacy_secrets::LegacySecrets;
use crate::config::DatabaseUrl;
use crate::db::{self, DbConnection, DbPool, Writes};
use crate::domain::GrantType;
use crate::error::ApiError;
use crate::store::applications::Application;

/// What a client must be allowed.
#[derive(Clone)]
pub enum Needs {
    /// Named by its id. A secret, when sent, must match; without one the id suffices,
    /// where a Bearer token already proves possession (drf-social-oauth2's revoke-token
    /// and invalidate-sessions send only `client_id`).
    Known,
    /// Authenticated: a confidential client by its secret, a public one by its id.
    Authenticated,
    /// Authenticated, allowed `grant`, and with `redirect_uri` (a code's) registered.
    Grant { grant: GrantType, redirect_uri: Option<String> },
}

impl Needs {
    pub fn grant(grant: GrantType) -> Self {
        Needs::Grant { grant, redirect_uri: None }
    }

    /// Whether the authenticated `app` may do what is needed.
    fn check(&self, app: Arc<Application>) -> Result<Arc<Application>, ApiError> {
        let Needs::Grant { grant, redirect_uri } = self else { return Ok(app) };
        if !app.allows(*grant) {
            return Err(ApiError::UnauthorizedClient(format!(
                "This application may not use the '{grant}' grant."
            )));
        }
        if redirect_uri.as_deref().is_some_and(|uri| !app.redirect_uri_list().contains(&uri)) {
            return Err(ApiError::invalid_request("redirect_uri is not registered for this application."));
        }
        Ok(app)
    }
}

pub struct ClientAuth {
    cache: ClientCache,
    legacy: LegacySecrets,
}

impl ClientAuth {
    pub fn start(url: &DatabaseUrl) -> Arc<Self> {
        Arc::new(Self { cache: ClientCache::start(url), legacy: LegacySecrets::default() })
    }

    /// Lets a Django client secret, once proven, be stored as ours (`legacy_secrets`).
    pub fn write_upgrades_with(&self, writes: Writes) {
        self.legacy.write_upgrades_with(writes);
    }

    /// The application `creds` name, if they authenticate it and it may do what `needs`
    /// says; from memory on PostgreSQL while the cache is live.
    pub fn authorize(
        &self,
        conn: &mut DbConnection,
        creds: &ClientCredentials,
        needs: &Needs,
    ) -> Result<Arc<Application>, ApiError> {
        let found = match &self.cache {
            ClientCache::Listening(cache) => cache.find(conn, &creds.client_id)?,
            // Stamped entries only admit ahead of a write (`admit`); here the table decides.
            ClientCache::Stamped(_) => Application::find_by_client_id(conn, &creds.client_id)?.map(Arc::new),
        };
        let app = match (found, needs) {
            (Some(app), Needs::Known) if !creds.has_secret() => app,
            (None, Needs::Known) if !creds.has_secret() => return Err(creds.failure("Unknown client.")),
            (Some(app), _) => creds.verify(app, &self.legacy)?,
            (None, _) => return Err(creds.failure(UNKNOWN)),
        };
        needs.check(app)
    }

    /// `authorize` ahead of a write job, without a trip to the database pool when
    /// memory holds the client. The write job must `confirm` what this admits.
    pub async fn admit(
        self: &Arc<Self>,
        pool: &DbPool,
        creds: ClientCredentials,
        needs: Needs,
    ) -> Result<Admitted, ApiError> {
        match &self.cache {
            ClientCache::Listening(cache) => {
                if let Some(app) = cache.peek(&creds.client_id) {
                    let app = needs.check(creds.verify(app, &self.legacy)?)?;
                    return Ok(Admitted { app, recheck: None, needs });
                }
            }
            ClientCache::Stamped(stamped) => {
                // A stamped entry only admits: a refusal may be its staleness (a secret
                // just rotated, a grant or redirect URI just added), so the table decides those.
                if let Some(entry) = stamped.get(&creds.client_id) {
                    if let Ok(app) = creds.verify(entry.app, &self.legacy).and_then(|app| needs.check(app)) {
                        let recheck = Some(Recheck { stamp: Some(entry.stamp), creds });
                        return Ok(Admitted { app, recheck, needs });
                    }
                }
            }
        }
        let auth = self.clone();
        db::run(pool, move |conn| {
            let ClientCache::Stamped(stamped) = &auth.cache else {
                let app = auth.authorize(conn, &creds, &needs)?;
                return Ok(Admitted { app, recheck: None, needs });
            };
            let loaded = stamped.load(conn, &creds.client_id)?;
            let app = loaded.app.ok_or_else(|| creds.failure(UNKNOWN))?;
            let app = needs.check(creds.verify(app, &auth.legacy)?)?;
            Ok(Admitted { app, recheck: Some(Recheck { stamp: loaded.stamp, creds }), needs })
        })
        .await
    }
}

/// A client admitted ahead of a write job; `confirm`, in the job, makes it final.
pub struct Admitted {
    app: Arc<Application>,
    /// SQLite: what to confirm the application against.
    recheck: Option<Recheck>,
    needs: Needs,
}

struct Recheck {
    /// The `application_changes` stamp the application was read at (`None` when the
    /// database has none, and then nothing confirms it).
    stamp: Option<i64>,
    /// To authenticate with again should `applications` have changed since.
    creds: ClientCredentials,
}

impl Admitted {
    /// The application to issue for, inside the write that issues: one read earlier
    /// (from memory or not) holds only if `applications` is unchanged since.
    pub fn confirm(self, conn: &mut DbConnection, auth: &ClientAuth) -> Result<Arc<Application>, ApiError> {
        let (Some(recheck), ClientCache::Stamped(stamped)) = (self.recheck, &auth.cache) else {
            return Ok(self.app);
        };
        if stamped.unchanged_since(conn, recheck.stamp)? {
            return Ok(self.app);
        }
        auth.authorize(conn, &recheck.creds, &self.needs)
    }
}
