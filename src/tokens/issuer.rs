//! The one place tokens are issued. Every grant records its tokens here, inside its
//! transaction, and signs the access token once that write is done (`TokenIssuer::sign`).

use std::sync::Arc;

use serde::Serialize;

use super::id_token::{self, IdClaims, UserClaims};
use super::keys::{AccessClaims, KeyStore};
use super::random::{self, RefreshToken};
use crate::db::Writer;
use crate::domain::scope::ADMIN;
use crate::domain::{GrantType, IdTokenAlg, Scope};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::store::applications::Application;
use crate::store::audit::NewAuditEvent;
use crate::store::openid_sign_ins;
use crate::store::pairs::{insert_pair, Before};
use crate::store::returning_sign_in::{self, Identity, ReturningSignIn};
use crate::store::rotation::{self, Rotation, RotationWrite};
use crate::store::tokens::{AccessRecord, NewAccess, NewRefresh};
use crate::store::users::User;

/// Whether a stored scope has `openid`, without building the `Scope` every refresh would
/// otherwise pay for.
fn asks_for_openid(scope: &str) -> bool {
    scope.split_whitespace().any(|word| word == crate::domain::scope::OPENID)
}

/// Which refresh token, if any, comes with the access token (a rotation continues a
/// family: `TokenIssuer::rotate`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// No refresh token (`client_credentials`).
    None,
    /// A new sign-in starts a new family.
    New,
}

/// What is being granted, to whom.
pub struct Grant<'a> {
    pub grant_type: GrantType,
    pub application: &'a Application,
    /// `None` for `client_credentials`, where the client acts for itself.
    pub user_id: Option<i64>,
    pub scope: &'a Scope,
    pub family: Family,
    /// What an ID token takes from the sign-in, when the scope has `openid`.
    pub openid: SignInFacts<'a>,
}

/// OpenID Connect facts of a sign-in: when the user authenticated (default: now, for a
/// grant that is itself the authentication) and the authorization request's `nonce`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignInFacts<'a> {
    pub auth_time: Option<i64>,
    pub nonce: Option<&'a str>,
}

/// RFC 6749 §5.1 token response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// With `openid` in the scope (SPEC §13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Tokens recorded but not yet signed. A write job returns this, and the caller signs
/// it (`TokenIssuer::sign`) once the job is done: on SQLite every write job runs on
/// one thread, which should spend its time writing, not signing (bench/notes.md).
#[must_use = "an issued token is answered only once signed"]
pub struct Issued {
    grant_type: GrantType,
    claims: AccessClaims,
    refresh_token: Option<RefreshToken>,
    /// The ID token to sign beside the access token, all but its `at_hash`.
    id_token: Option<(IdClaims, IdTokenAlg)>,
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

    /// Records the tokens of `grant`. The records are written atomically (one
    /// statement or one savepoint), so a failure leaves no half-issued pair; a caller
    /// with more writes of its own wraps them and this in one transaction.
    pub fn issue(&self, conn: &mut Writer<'_>, grant: Grant<'_>) -> Result<Issued, ApiError> {
        self.issue_after(conn, grant, None)
    }

    /// `issue` for a user signing in (`Family::New`): the user's `last_login` and
    /// `event` (timed now) are written with the pair, in the same atomic write.
    pub fn issue_sign_in(
        &self,
        conn: &mut Writer<'_>,
        grant: Grant<'_>,
        event: NewAuditEvent<'_>,
    ) -> Result<Issued, ApiError> {
        if grant.family != Family::New || grant.user_id.is_none() {
            return Err(ApiError::internal("a sign-in starts a new family for a user"));
        }
        let event = NewAuditEvent { created_at: crate::time::now(), actor_user_id: grant.user_id, ..event };
        self.issue_after(conn, grant, Some(&event))
    }

    fn issue_after(
        &self,
        conn: &mut Writer<'_>,
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
        // The family and authentication time of an OpenID Connect sign-in.
        let mut family: Option<(String, i64)> = None;
        let refresh_token = match grant.family {
            Family::None => {
                AccessRecord::insert(conn, &access)?;
                None
            }
            Family::New => {
                let user_id =
                    grant.user_id.ok_or_else(|| ApiError::internal("refresh token without a user"))?;
                let family_id = random::ordered_id();
                let token = random::refresh_token();
                let refresh = NewRefresh {
                    token_hash: token.key.as_str(),
                    family_id: &family_id,
                    parent_id: None,
                    user_id,
                    application_id: app.id,
                    scope: &scope,
                    created_at: now,
                    expires_at: now + self.refresh_ttl,
                };
                access.family_id = Some(&family_id);
                let before = sign_in.map_or(Before::Nothing, Before::SignIn);
                insert_pair(conn, before, &refresh, &access)?;
                if grant.scope.is_openid() {
                    let auth_time = grant.openid.auth_time.unwrap_or(now);
                    openid_sign_ins::record(conn, &family_id, auth_time, now)?;
                    family = Some((family_id, auth_time));
                }
                Some(token.token)
            }
        };
        let issued = self.unsigned(grant.grant_type, app, grant.user_id, scope, jti, refresh_token, now);
        match family {
            Some((sid, auth_time)) => {
                let user = User::find(conn, grant.user_id.unwrap_or_default())?
                    .ok_or_else(|| ApiError::internal("the signed-in user is gone"))?;
                Ok(self.with_id_token(issued, app, &user, grant.scope, sid, auth_time, grant.openid.nonce))
            }
            None => Ok(issued),
        }
    }

    /// Rotates the refresh token `presented` (by `application`, optionally narrowing
    /// its scope to `narrowed`) at `now`, the time the caller explains a refusal by:
    /// claims it and records its child pair in one write, if it qualifies. Otherwise the
    /// record as it stood, for the caller to explain the refusal.
    pub fn rotate(
        &self,
        conn: &mut Writer<'_>,
        application: &Application,
        presented: &RefreshToken,
        narrowed: Option<&Scope>,
        now: i64,
    ) -> Result<Rotation<Issued>, ApiError> {
        let (jti, token) = (random::ordered_id(), random::refresh_token());
        let presented_key = presented.key();
        let narrowed = narrowed.map(Scope::to_string);
        let write = RotationWrite {
            presented_key: &presented_key,
            application_id: application.id,
            now,
            scope: narrowed.as_deref(),
            child_key: &token.key,
            jti: &jti,
            refresh_expires_at: now + self.refresh_ttl,
            access_expires_at: now + self.access_ttl,
        };
        Ok(match rotation::rotate(conn, &write)? {
            Rotation::Rotated(parent) => {
                let scope = narrowed.unwrap_or(parent.scope);
                let user_id = Some(parent.user_id);
                let refresh_token = Some(token.token);
                let grant_type = GrantType::RefreshToken;
                let openid = asks_for_openid(&scope).then(|| Scope::from_stored(&scope));
                let issued = self.unsigned(grant_type, application, user_id, scope, jti, refresh_token, now);
                if let Some(openid) = openid {
                    // A family that started without a record (an import) started no later than
                    // its token did; recorded now, the next refreshes keep that time.
                    let auth_time = match openid_sign_ins::auth_time(conn, &parent.family_id)? {
                        Some(auth_time) => auth_time,
                        None => {
                            openid_sign_ins::record(conn, &parent.family_id, parent.created_at, now)?;
                            parent.created_at
                        }
                    };
                    let user = User::find(conn, parent.user_id)?
                        .ok_or_else(|| ApiError::internal("the refreshed user is gone"))?;
                    let sid = parent.family_id;
                    Rotation::Rotated(self.with_id_token(
                        issued,
                        application,
                        &user,
                        &openid,
                        sid,
                        auth_time,
                        None,
                    ))
                } else {
                    Rotation::Rotated(issued)
                }
            }
            Rotation::Refused { record, user_active } => Rotation::Refused { record, user_active },
            Rotation::Unknown => Rotation::Unknown,
        })
    }

    /// A returning social user's sign-in: when `identity` is linked to a user who is
    /// active and may have `scope`, the link is updated, the sign-in recorded and the
    /// pair written, in one write (`store::returning_sign_in`).
    pub fn sign_in_returning(
        &self,
        conn: &mut Writer<'_>,
        grant_type: GrantType,
        application: &Application,
        scope: &Scope,
        identity: &Identity<'_>,
        event: NewAuditEvent<'_>,
    ) -> Result<ReturningSignIn<(User, Issued)>, ApiError> {
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
            token_key: &token.key,
            refresh_expires_at: now + self.refresh_ttl,
            jti: &jti,
            access_expires_at: now + self.access_ttl,
        };
        Ok(match returning_sign_in::sign_in(conn, &write)? {
            ReturningSignIn::SignedIn(user) => {
                let refresh_token = Some(token.token);
                let openid = asks_for_openid(&scope).then(|| Scope::from_stored(&scope));
                let mut issued =
                    self.unsigned(grant_type, application, Some(user.id), scope, jti, refresh_token, now);
                if let Some(openid) = openid {
                    openid_sign_ins::record(conn, &family_id, now, now)?;
                    issued = self.with_id_token(issued, application, &user, &openid, family_id, now, None);
                }
                ReturningSignIn::SignedIn((user, issued))
            }
            ReturningSignIn::Refused(user) => ReturningSignIn::Refused(user),
            ReturningSignIn::NoLink => ReturningSignIn::NoLink,
        })
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
        refresh_token: Option<RefreshToken>,
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
        Issued { grant_type, claims, refresh_token, id_token: None }
    }

    /// `issued` with the ID token of an OpenID Connect sign-in (SPEC §13): for `user`, to
    /// `app`, in the sign-in (`sid`, the refresh family) that authenticated at `auth_time`.
    #[allow(clippy::too_many_arguments)]
    fn with_id_token(
        &self,
        issued: Issued,
        app: &Application,
        user: &User,
        scope: &Scope,
        sid: String,
        auth_time: i64,
        nonce: Option<&str>,
    ) -> Issued {
        let alg = app.id_token_alg();
        let claims = IdClaims {
            iss: self.issuer.clone(),
            aud: app.client_id.clone(),
            azp: app.client_id.clone(),
            iat: issued.claims.iat,
            exp: issued.claims.exp,
            auth_time,
            nonce: nonce.map(str::to_owned),
            at_hash: String::new(),
            sid,
            user: UserClaims::of(user, scope),
        };
        Issued { id_token: Some((claims, alg)), ..issued }
    }

    /// Signs the access token (and the ID token, if any) and builds the answer.
    pub fn sign(&self, issued: Issued) -> Result<TokenResponse, ApiError> {
        let Issued { grant_type, claims, refresh_token, id_token } = issued;
        let access_token = self.keys.sign(&claims)?;
        let id_token = match id_token {
            Some((id_claims, alg)) => {
                let id_claims = IdClaims { at_hash: id_token::at_hash(&access_token, alg), ..id_claims };
                Some(self.keys.sign_id(&id_claims, alg)?)
            }
            None => None,
        };
        self.metrics.token_issued(grant_type);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.access_ttl,
            scope: claims.scope,
            refresh_token,
            id_token,
        })
    }
}
