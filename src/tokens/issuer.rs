//! The one place tokens are issued. Every grant records its tokens here, inside its
//! transaction, and signs the access token once that write is done (`TokenIssuer::sign`).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpResponse;
use diesel::PgConnection;
use serde::Serialize;

use super::keys::{AccessClaims, KeyStore};
use super::random;
use crate::db::DbConnection;
use crate::domain::scope::ADMIN;
use crate::domain::{GrantType, Scope};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::store::applications::Application;
use crate::store::audit::NewAuditEvent;
use crate::store::pairs::{insert_pair, Before};
use crate::store::returning_sign_in::{self, Identity};
use crate::store::rotation;
use crate::store::tokens::{AccessRecord, NewAccess, NewRefresh, RefreshRecord};
use crate::store::users::User;

/// Which refresh token, if any, comes with the access token.
pub enum Family<'a> {
    /// No refresh token (`client_credentials`).
    None,
    /// A new sign-in starts a new family.
    New,
    /// A rotation continues the family of `parent`.
    Rotate(&'a RefreshRecord),
}

/// What is being granted, to whom.
pub struct Grant<'a> {
    pub grant_type: GrantType,
    pub application: &'a Application,
    /// `None` for `client_credentials`, where the client acts for itself.
    pub user_id: Option<i64>,
    pub scope: &'a Scope,
    pub family: Family<'a>,
}

/// RFC 6749 §5.1 token response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// 200 with `Cache-Control: no-store`, as RFC 6749 §5.1 requires.
    pub fn into_response(self) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(self)
    }
}

/// Tokens recorded but not yet signed. A write job returns this, and the caller signs
/// it (`TokenIssuer::sign`) once the job is done: on SQLite every write job runs on
/// one thread, where a signature per request was a tenth of that thread's time.
#[must_use = "an issued token is answered only once signed"]
pub struct Issued {
    grant_type: GrantType,
    claims: AccessClaims,
    refresh_token: Option<String>,
}

pub struct TokenIssuer {
    keys: Arc<KeyStore>,
    issuer: String,
    access_ttl: i64,
    refresh_ttl: i64,
    metrics: Arc<Metrics>,
}

impl TokenIssuer {
    pub fn new(
        keys: Arc<KeyStore>,
        issuer: &str,
        access_ttl: i64,
        refresh_ttl: i64,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { keys, issuer: issuer.to_owned(), access_ttl, refresh_ttl, metrics }
    }

    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// Records and signs the tokens of `grant`. The records are written atomically
    /// (one statement or one savepoint), so a failure leaves no half-issued pair; a
    /// caller with more writes of its own wraps them and this in one transaction.
    /// A rotation claims its parent in the same write and fails with `invalid_grant`
    /// when a concurrent request claimed it first.
    pub fn issue(&self, conn: &mut DbConnection, grant: Grant<'_>) -> Result<Issued, ApiError> {
        self.issue_after(conn, grant, None)
    }

    /// `issue` for a user signing in (`Family::New`): the user's `last_login` and
    /// `event` (timed now) are written with the pair, in the same atomic write.
    pub fn issue_sign_in(
        &self,
        conn: &mut DbConnection,
        grant: Grant<'_>,
        event: NewAuditEvent<'_>,
    ) -> Result<Issued, ApiError> {
        if !matches!(grant.family, Family::New) || grant.user_id.is_none() {
            return Err(ApiError::internal("a sign-in starts a new family for a user"));
        }
        let event = NewAuditEvent { created_at: crate::time::now(), actor_user_id: grant.user_id, ..event };
        self.issue_after(conn, grant, Some(&event))
    }

    fn issue_after(
        &self,
        conn: &mut DbConnection,
        grant: Grant<'_>,
        sign_in: Option<&NewAuditEvent<'_>>,
    ) -> Result<Issued, ApiError> {
        let now = crate::time::now();
        let scope = grant.scope.to_string();
        let app = grant.application;
        let jti = random::ordered_id();
        let mut access = NewAccess {
            jti: &jti,
            user_id: grant.user_id,
            application_id: app.id,
            refresh_token_id: None,
            family_id: None,
            scope: &scope,
            created_at: now,
            expires_at: now + self.access_ttl,
        };
        let refresh_token = match grant.family {
            Family::None => {
                AccessRecord::insert(conn, &access)?;
                None
            }
            Family::New | Family::Rotate(_) => {
                let user_id =
                    grant.user_id.ok_or_else(|| ApiError::internal("refresh token without a user"))?;
                let (family_id, parent_id) = match grant.family {
                    Family::Rotate(parent) => (parent.family_id.clone(), Some(parent.id)),
                    _ => (random::ordered_id(), None),
                };
                let before = match (parent_id, sign_in) {
                    (Some(parent_id), _) => Before::Claim(parent_id, now),
                    (None, Some(event)) => Before::SignIn(event),
                    (None, None) => Before::Nothing,
                };
                let token = random::refresh_token();
                let refresh = NewRefresh {
                    token_hash: &token.key,
                    family_id: &family_id,
                    parent_id,
                    user_id,
                    application_id: app.id,
                    scope: &scope,
                    created_at: now,
                    expires_at: now + self.refresh_ttl,
                };
                access.family_id = Some(&family_id);
                if insert_pair(conn, before, &refresh, &access)?.is_none() {
                    return Err(super::refresh::concurrent());
                }
                Some(token.token)
            }
        };
        Ok(self.unsigned(grant.grant_type, app, grant.user_id, scope, jti, refresh_token, now))
    }

    /// A rotation on PostgreSQL without a narrowed scope: the lookup, the claim and the new
    /// pair in one statement (`store::rotation`). Returns the presented token's record as
    /// it stood, whether its user is active, and the new pair when the record qualified
    /// and no concurrent request claimed it first; `None` for an unknown token.
    pub fn rotate_in_one(
        &self,
        conn: &mut PgConnection,
        application: &Application,
        presented_hash: &str,
        now: i64,
    ) -> Result<Option<(RefreshRecord, bool, Option<Issued>)>, ApiError> {
        let (jti, token) = (random::ordered_id(), random::refresh_token());
        let write = rotation::Rotated {
            presented_hash,
            application_id: application.id,
            now,
            token_hash: &token.key,
            refresh_expires_at: now + self.refresh_ttl,
            jti: &jti,
            access_expires_at: now + self.access_ttl,
        };
        let Some((record, user_active, child)) = rotation::rotate(conn, &write)? else { return Ok(None) };
        let issued = child.map(|_| {
            self.unsigned(
                GrantType::RefreshToken,
                application,
                Some(record.user_id),
                record.scope.clone(),
                jti,
                Some(token.token),
                now,
            )
        });
        Ok(Some((record, user_active, issued)))
    }

    /// A returning social user's sign-in on PostgreSQL: the link is looked up and, when its
    /// user is active and may have `scope`, updated, the sign-in recorded and the pair
    /// written, in one statement (`store::returning_sign_in`). Returns the user as the
    /// statement found it and the pair if it was issued; `None` when the identity has no
    /// link yet.
    pub fn sign_in_returning(
        &self,
        conn: &mut PgConnection,
        grant_type: GrantType,
        application: &Application,
        scope: &Scope,
        identity: &Identity<'_>,
        event: NewAuditEvent<'_>,
    ) -> Result<Option<(User, Option<Issued>)>, ApiError> {
        let now = crate::time::now();
        let (jti, family_id, token) = (random::ordered_id(), random::ordered_id(), random::refresh_token());
        let event = NewAuditEvent { created_at: now, ..event };
        let wants_admin = scope.contains(ADMIN);
        let scope = scope.to_string();
        let write = returning_sign_in::SignIn {
            identity,
            wants_admin,
            event: &event,
            application_id: application.id,
            scope: &scope,
            family_id: &family_id,
            token_hash: &token.key,
            refresh_expires_at: now + self.refresh_ttl,
            jti: &jti,
            access_expires_at: now + self.access_ttl,
        };
        let Some((user, issued)) = returning_sign_in::sign_in(conn, &write)? else { return Ok(None) };
        if !issued {
            return Ok(Some((user, None)));
        }
        let issued =
            self.unsigned(grant_type, application, Some(user.id), scope, jti, Some(token.token), now);
        Ok(Some((user, Some(issued))))
    }

    /// The claims of an access token whose records are written.
    #[allow(clippy::too_many_arguments)]
    fn unsigned(
        &self,
        grant_type: GrantType,
        app: &Application,
        user_id: Option<i64>,
        scope: String,
        jti: String,
        refresh_token: Option<String>,
        now: i64,
    ) -> Issued {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: user_id.map(|id| id.to_string()).unwrap_or_else(|| app.client_id.clone()),
            aud: self.issuer.clone(),
            client_id: app.client_id.clone(),
            scope,
            iat: now,
            exp: now + self.access_ttl,
            jti,
        };
        Issued { grant_type, claims, refresh_token }
    }

    /// Signs the access token and builds the answer.
    pub fn sign(&self, issued: Issued) -> Result<TokenResponse, ApiError> {
        let Issued { grant_type, claims, refresh_token } = issued;
        let access_token = self.keys.sign(&claims)?;
        self.metrics.token_issued(grant_type);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.access_ttl,
            scope: claims.scope,
            refresh_token,
        })
    }
}
