//! `grant_type=refresh_token`: rotation with reuse detection.
//!
//! `TokenIssuer::rotate` claims the presented token and writes its child in one write
//! when the token qualifies; otherwise it hands back the record as it stood, and this
//! grant explains the refusal. A replay (the token was already used) burns the family;
//! a lost race (it was unused when read, but a concurrent request claimed it first) is
//! refused without burning it, so the winner's new pair survives.

use crate::auth::client::ClientCredentials;
use crate::auth::client_auth::Needs;
use crate::db::{DbConnection, Writer};
use crate::domain::{GrantType, Scope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::applications::Application;
use crate::store::audit::{self, NewAuditEvent};
use crate::store::rotation::Rotation;
use crate::store::tokens::{revoke, RefreshRecord};
use crate::tokens::random::RefreshToken;
use crate::tokens::{Issued, TokenIssuer, TokenResponse};

pub struct RefreshRequest {
    pub refresh_token: RefreshToken,
    /// A narrower scope for the new pair.
    pub scope: Option<String>,
}

pub async fn refresh_token(
    state: &AppState,
    client: ClientCredentials,
    request: RefreshRequest,
) -> Result<TokenResponse, ApiError> {
    let grace = state.settings.refresh_reuse_grace;
    let metrics = state.metrics.clone();
    let (issuer, clients) = (state.issuer.clone(), state.clients.clone());
    let issued = state
        .writes
        .run(move |conn| {
            let app = clients.authorize(conn, &client, &Needs::grant(GrantType::RefreshToken))?;
            let rotation = Rotating { issuer: &issuer, app: &app, grace, now: crate::time::now() };
            match rotation.rotate(conn, &request)? {
                Ok(issued) => Ok(issued),
                Err(Replayed { user_id, family_id }) => {
                    tracing::warn!(user.id = user_id, client.id = %app.client_id, "refresh token reuse: family revoked");
                    metrics.refresh_reuse_detected();
                    audit::record(
                        conn,
                        NewAuditEvent {
                            actor_user_id: Some(user_id),
                            action: "token.reuse_detected",
                            target_type: "refresh_family",
                            target_id: &family_id,
                            ..Default::default()
                        },
                    )?;
                    Err(ApiError::invalid_grant(
                        "The refresh token was already used; every token of this sign-in has been revoked.",
                    ))
                }
            }
        })
        .await?;
    state.issuer.sign(issued)
}

/// A rotated token came back: its family is now revoked.
struct Replayed {
    user_id: i64,
    family_id: String,
}

/// What the presented token's record allows.
enum Verdict {
    /// It may be rotated, into the narrower scope if one was asked.
    Qualifies(Option<Scope>),
    Replayed,
}

struct Rotating<'a> {
    issuer: &'a TokenIssuer,
    /// The authenticated client presenting the token.
    app: &'a Application,
    /// `PORTCULLIS_REFRESH_REUSE_GRACE` in seconds.
    grace: i64,
    now: i64,
}

impl Rotating<'_> {
    fn rotate(
        &self,
        conn: &mut Writer<'_>,
        request: &RefreshRequest,
    ) -> Result<Result<Issued, Replayed>, ApiError> {
        let asked = request.scope.as_deref().map(str::trim).filter(|s| !s.is_empty());
        // A narrower scope is checked against the record before anything is written.
        let narrowed = match asked {
            None => None,
            Some(raw) => {
                let key = request.refresh_token.key();
                let (record, user) = RefreshRecord::find_with_user(conn, &key)?.ok_or_else(refused)?;
                match self.judge(conn, &record, user.is_active, Some(raw))? {
                    Verdict::Qualifies(scope) => scope,
                    Verdict::Replayed => return Ok(Err(self.burn(conn, record)?)),
                }
            }
        };
        match self.issuer.rotate(conn, self.app, &request.refresh_token, narrowed.as_ref(), self.now)? {
            Rotation::Rotated(issued) => Ok(Ok(issued)),
            Rotation::Unknown => Err(refused()),
            // It qualified when read a moment ago: a concurrent request claimed it.
            Rotation::Refused { .. } if narrowed.is_some() => Err(concurrent()),
            Rotation::Refused { record, user_active } => {
                match self.judge(conn, &record, user_active, None)? {
                    Verdict::Replayed => Ok(Err(self.burn(conn, record)?)),
                    // Everything qualified when the record was read, yet it was not rotated.
                    Verdict::Qualifies(_) => Err(concurrent()),
                }
            }
        }
    }

    /// The record's checks, in the order the client is told of a failure.
    fn judge(
        &self,
        conn: &mut DbConnection,
        record: &RefreshRecord,
        user_active: bool,
        asked: Option<&str>,
    ) -> Result<Verdict, ApiError> {
        // Another client's token gets the same answer as an unknown one: saying "another
        // client" would tell a foreign client that the token exists.
        if record.application_id != self.app.id {
            return Err(refused());
        }
        if record.revoked_at.is_some() || record.expires_at <= self.now {
            return Err(refused());
        }
        if let Some(used_at) = record.used_at {
            if self.within_grace(conn, record, used_at)? {
                return Err(ApiError::invalid_grant(
                    "The refresh token was just rotated; use the newest refresh token.",
                ));
            }
            return Ok(Verdict::Replayed);
        }
        let narrowed = match asked {
            None => None,
            Some(raw) => {
                let asked = Scope::parse(raw)?;
                if !asked.is_subset(&Scope::from_stored(&record.scope)) {
                    return Err(ApiError::InvalidScope("A refresh may only narrow the scope.".into()));
                }
                Some(asked)
            }
        };
        if !user_active {
            return Err(ApiError::invalid_grant("The user account is disabled."));
        }
        Ok(Verdict::Qualifies(narrowed))
    }

    /// Two tabs refreshing at once: within the grace period, replaying the token whose
    /// child is still unused is refused without burning the family.
    fn within_grace(
        &self,
        conn: &mut DbConnection,
        record: &RefreshRecord,
        used_at: i64,
    ) -> Result<bool, ApiError> {
        if self.grace <= 0 || self.now - used_at > self.grace {
            return Ok(false);
        }
        Ok(RefreshRecord::child_of(conn, record.id)?
            .is_some_and(|child| child.used_at.is_none() && child.revoked_at.is_none()))
    }

    /// Revokes the replayed token's family, in its own transaction: kept even though
    /// the request is then refused.
    fn burn(&self, conn: &mut Writer<'_>, record: RefreshRecord) -> Result<Replayed, ApiError> {
        conn.transaction(|conn| revoke::family(conn, &record.family_id, self.now))?;
        Ok(Replayed { user_id: record.user_id, family_id: record.family_id })
    }
}

fn refused() -> ApiError {
    ApiError::invalid_grant("The refresh token is invalid, expired or revoked.")
}

fn concurrent() -> ApiError {
    ApiError::invalid_grant("The refresh token was used by a concurrent request.")
}
