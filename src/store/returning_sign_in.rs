//! A returning social user's sign-in: the link and its user are read, and, when the
//! user may sign in, the link is brought up to date, the sign-in recorded (`last_login`,
//! an audit event) and the new pair inserted. No link: nothing is written, and the
//! caller creates the link in a transaction of its own.
//!
//! On PostgreSQL this is one statement: every CTE sees the snapshot the statement began
//! with, so the user returned is the one the admission was decided on. On SQLite, where
//! a statement costs no round trip, the lookup and the writes are separate statements.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::audit::NewAuditEvent;
use super::pairs::{insert_pair, Before};
use super::social::SocialAccount;
use super::tokens::{AccessRow, NewAccess, NewRefresh, RefreshRow, Source};
use super::users::User;
use crate::db::{DbConnection, Writer};
use crate::tokens::random::TokenKey;

/// The identity signing in, and what its link should now hold.
pub struct Identity<'a> {
    pub provider: &'a str,
    pub uid: &'a str,
    pub extra_data: &'a str,
    /// A new provider refresh token, sealed; `None` keeps the one stored.
    pub sealed_refresh_token: Option<&'a str>,
}

/// The identity and what a sign-in writes.
pub struct SignIn<'a> {
    pub identity: &'a Identity<'a>,
    /// Only staff may be granted a scope with `admin`.
    pub wants_admin: bool,
    /// Timed at `created_at`; its actor is the link's user.
    pub event: &'a NewAuditEvent<'a>,
    pub application_id: i64,
    pub scope: &'a str,
    pub family_id: &'a str,
    pub token_key: &'a TokenKey,
    pub refresh_expires_at: i64,
    pub jti: &'a str,
    pub access_expires_at: i64,
}

/// What became of a returning identity's sign-in.
pub enum ReturningSignIn<T = User> {
    /// The link's user, signed in: the pair is written (the issuer's answer carries
    /// the pair as well).
    SignedIn(T),
    /// The link's user may not sign in (disabled, or `admin` asked by a non-staff user).
    Refused(User),
    /// The identity has no link yet.
    NoLink,
}

pub fn sign_in(conn: &mut Writer<'_>, sign_in: &SignIn<'_>) -> QueryResult<ReturningSignIn> {
    match &mut **conn {
        DbConnection::Pg(pg) => {
            let found: Option<(User, bool)> = SignInStatement::new(sign_in).get_result(pg).optional()?;
            Ok(match found {
                None => ReturningSignIn::NoLink,
                Some((user, true)) => ReturningSignIn::SignedIn(user),
                Some((user, false)) => ReturningSignIn::Refused(user),
            })
        }
        DbConnection::Sqlite(_) => {
            let identity = sign_in.identity;
            let Some((link, user)) = SocialAccount::find_with_user(conn, identity.provider, identity.uid)?
            else {
                return Ok(ReturningSignIn::NoLink);
            };
            if !user.is_active || (sign_in.wants_admin && !user.is_staff) {
                return Ok(ReturningSignIn::Refused(user));
            }
            // Once admitted, the link is brought up to date (only if the profile changed
            // or a provider refresh token came along), then the sign-in, its audit event
            // and the pair are one atomic write.
            if link.extra_data != identity.extra_data {
                SocialAccount::set_extra(conn, link.id, identity.extra_data)?;
            }
            if let Some(sealed) = identity.sealed_refresh_token {
                SocialAccount::set_refresh_token(conn, link.id, sealed)?;
            }
            let event = NewAuditEvent { actor_user_id: Some(user.id), ..*sign_in.event };
            let (refresh, access) = pair(sign_in, user.id);
            insert_pair(conn, Before::SignIn(&event), &refresh, &access)?;
            Ok(ReturningSignIn::SignedIn(user))
        }
    }
}

/// The new pair for `user_id`, for SQLite's separate statements.
fn pair<'a>(s: &'a SignIn<'a>, user_id: i64) -> (NewRefresh<'a>, NewAccess<'a>) {
    let now = s.event.created_at;
    let refresh = NewRefresh {
        token_hash: s.token_key.as_str(),
        family_id: s.family_id,
        parent_id: None,
        user_id,
        application_id: s.application_id,
        scope: s.scope,
        created_at: now,
        expires_at: s.refresh_expires_at,
    };
    let access = NewAccess {
        jti: s.jti,
        user_id: Some(user_id),
        application_id: s.application_id,
        refresh_token_id: None,
        family_id: Some(s.family_id),
        scope: s.scope,
        created_at: now,
        expires_at: s.access_expires_at,
    };
    (refresh, access)
}

struct SignInStatement<'a> {
    sign_in: &'a SignIn<'a>,
    refresh: RefreshRow<'a>,
    access: AccessRow<'a>,
}

impl<'a> SignInStatement<'a> {
    /// The pair's values: bound, but for the user, read from the link (`admitted`, then
    /// `child`).
    fn new(sign_in: &'a SignIn<'a>) -> Self {
        let (refresh, access) = pair(sign_in, 0);
        let refresh = RefreshRow { user_id: Source::Column("id"), ..RefreshRow::from(&refresh) };
        let access = AccessRow {
            user_id: Source::Column("user_id"),
            refresh_token_id: Source::Column("id"),
            ..AccessRow::from(&access)
        };
        SignInStatement { sign_in, refresh, access }
    }
}

struct SignInStatementId;

impl QueryId for SignInStatement<'_> {
    type QueryId = SignInStatementId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

type UserColumns = (
    BigInt,
    Nullable<Text>,
    Text,
    Nullable<Text>,
    Text,
    Text,
    Bool,
    Bool,
    BigInt,
    Nullable<BigInt>,
    Bool,
    Nullable<BigInt>,
);

impl diesel::query_builder::Query for SignInStatement<'_> {
    type SqlType = (UserColumns, Bool);
}

impl RunQueryDsl<PgConnection> for SignInStatement<'_> {}

/// `User`'s columns in its field order.
const USER_COLUMNS: &str = "id, email, username, password_hash, first_name, last_name, is_active, \
                            is_staff, date_joined, last_login, email_verified, updated_at";

impl QueryFragment<Pg> for SignInStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let s = self.sign_in;
        let (identity, now) = (s.identity, &s.event.created_at);
        out.push_sql("WITH seen AS (SELECT s.id AS link_id, u.* FROM social_accounts s ");
        out.push_sql("JOIN users u ON u.id = s.user_id WHERE s.provider = ");
        out.push_bind_param::<Text, _>(identity.provider)?;
        out.push_sql(" AND s.uid = ");
        out.push_bind_param::<Text, _>(identity.uid)?;
        out.push_sql("), admitted AS (SELECT link_id, id FROM seen WHERE is_active AND (is_staff OR NOT ");
        out.push_bind_param::<Bool, _>(&s.wants_admin)?;
        // Unreferenced data-modifying CTEs still run, exactly once.
        out.push_sql(")), relinked AS (UPDATE social_accounts SET extra_data = ");
        out.push_bind_param::<Text, _>(identity.extra_data)?;
        out.push_sql(", provider_refresh_token = COALESCE(");
        out.push_bind_param::<Nullable<Text>, _>(&identity.sealed_refresh_token)?;
        out.push_sql(
            ", provider_refresh_token) WHERE id = (SELECT link_id FROM admitted) AND (extra_data <> ",
        );
        out.push_bind_param::<Text, _>(identity.extra_data)?;
        out.push_sql(" OR ");
        out.push_bind_param::<Nullable<Text>, _>(&identity.sealed_refresh_token)?;
        out.push_sql(" IS NOT NULL)), touched AS (UPDATE users SET last_login = ");
        out.push_bind_param::<BigInt, _>(now)?;
        out.push_sql(
            " WHERE id = (SELECT id FROM admitted)), audited AS (INSERT INTO audit_events \
             (created_at, actor_user_id, action, target_type, target_id, ip, detail) SELECT ",
        );
        out.push_bind_param::<BigInt, _>(now)?;
        out.push_sql(", id");
        s.event.push_fields(&mut out)?;
        out.push_sql(" FROM admitted), child AS (");
        self.refresh.push_insert(&mut out)?;
        out.push_sql(" FROM admitted RETURNING id, user_id), issued AS (");
        self.access.push_insert(&mut out)?;
        out.push_sql(" FROM child RETURNING 1) SELECT ");
        out.push_sql(USER_COLUMNS);
        out.push_sql(", EXISTS (SELECT 1 FROM issued) FROM seen");
        Ok(())
    }
}
