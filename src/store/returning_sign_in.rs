//! A returning social user's sign-in in one PostgreSQL statement: the link and its user
//! are read, and, when the user may sign in, the link is brought up to date, the sign-in
//! recorded (`last_login`, an audit event) and the new pair inserted. One round trip
//! instead of a lookup and then the write.
//!
//! Every CTE sees the snapshot the statement began with, so the user returned is the
//! one the admission was decided on; the caller repeats the admission on it only to
//! explain a refusal. No link: nothing is written and no row comes back, and the
//! caller creates the link in a transaction of its own.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::audit::NewAuditEvent;
use super::users::User;

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
    pub token_hash: &'a str,
    pub refresh_expires_at: i64,
    pub jti: &'a str,
    pub access_expires_at: i64,
}

/// The linked user as the statement found it, and whether the pair was written.
pub fn sign_in(conn: &mut PgConnection, sign_in: &SignIn<'_>) -> QueryResult<Option<(User, bool)>> {
    SignInStatement(sign_in).get_result(conn).optional()
}

struct SignInStatement<'a>(&'a SignIn<'a>);

impl QueryId for SignInStatement<'_> {
    type QueryId = SignInStatement<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

type UserColumns =
    (BigInt, Nullable<Text>, Text, Nullable<Text>, Text, Text, Bool, Bool, BigInt, Nullable<BigInt>);

impl diesel::query_builder::Query for SignInStatement<'_> {
    type SqlType = (UserColumns, Bool);
}

impl RunQueryDsl<PgConnection> for SignInStatement<'_> {}

/// `User`'s columns in its field order.
const USER_COLUMNS: &str = "id, email, username, password_hash, first_name, last_name, is_active, \
                            is_staff, date_joined, last_login";

impl QueryFragment<Pg> for SignInStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let s = self.0;
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
        out.push_sql(
            " FROM admitted), child AS (INSERT INTO refresh_tokens (token_hash, family_id, user_id, \
             application_id, scope, created_at, expires_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(s.token_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(s.family_id)?;
        out.push_sql(", id, ");
        out.push_bind_param::<BigInt, _>(&s.application_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(s.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(now)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&s.refresh_expires_at)?;
        out.push_sql(
            " FROM admitted RETURNING id, user_id), issued AS (INSERT INTO access_tokens (jti, user_id, \
             application_id, refresh_token_id, family_id, scope, created_at, expires_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(s.jti)?;
        out.push_sql(", user_id, ");
        out.push_bind_param::<BigInt, _>(&s.application_id)?;
        out.push_sql(", id, ");
        out.push_bind_param::<Text, _>(s.family_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(s.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(now)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&s.access_expires_at)?;
        out.push_sql(" FROM child RETURNING 1) SELECT ");
        out.push_sql(USER_COLUMNS);
        out.push_sql(", EXISTS (SELECT 1 FROM issued) FROM seen");
        Ok(())
    }
}
