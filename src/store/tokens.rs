//! Records of issued tokens: access tokens by `jti`, refresh tokens by key
//! (`tokens::random::refresh_token_key`: selector and hash), in families.

use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::schema::{access_tokens, refresh_tokens, social_accounts, users};
use super::social::SocialAccount;
use super::users::User;
use crate::db::{DbConnection, Writer};
use crate::on_backend;
use crate::tokens::random::TokenKey;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRecord {
    pub id: i64,
    pub token_hash: String,
    pub family_id: String,
    pub parent_id: Option<i64>,
    pub user_id: i64,
    pub application_id: i64,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
pub struct NewRefresh<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub parent_id: Option<i64>,
    pub user_id: i64,
    pub application_id: i64,
    pub scope: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

diesel::define_sql_function! {
    fn coalesce(first: Nullable<BigInt>, second: Nullable<BigInt>) -> Nullable<BigInt>;
}

/// `revoked_at` is when the token stopped being usable: its own revocation, or the
/// rotation of the refresh token issued with it (django-oauth-toolkit's behaviour).
/// Deciding this when the record is read, rather than writing each rotated access
/// record, keeps a rotation at the writes it had; every query that selects a record
/// must join its refresh token (`with_refresh`), which the select expression enforces.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = access_tokens)]
pub struct AccessRecord {
    pub id: i64,
    pub jti: String,
    pub user_id: Option<i64>,
    pub application_id: i64,
    pub refresh_token_id: Option<i64>,
    pub family_id: Option<String>,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    #[diesel(select_expression = coalesce(access_tokens::revoked_at, refresh_tokens::used_at.nullable()))]
    #[diesel(select_expression_type = coalesce<access_tokens::revoked_at, diesel::dsl::Nullable<refresh_tokens::used_at>>)]
    pub revoked_at: Option<i64>,
}

/// The refresh token an access record was issued with, joined for `AccessRecord`'s
/// `revoked_at`.
macro_rules! with_refresh {
    ($query:expr) => {
        $query.left_join(
            refresh_tokens::table.on(refresh_tokens::id.nullable().eq(access_tokens::refresh_token_id)),
        )
    };
}

#[derive(Debug, Insertable)]
#[diesel(table_name = access_tokens, treat_none_as_default_value = false)]
pub struct NewAccess<'a> {
    pub jti: &'a str,
    pub user_id: Option<i64>,
    pub application_id: i64,
    pub refresh_token_id: Option<i64>,
    pub family_id: Option<&'a str>,
    pub scope: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A value in a one-statement write on PostgreSQL: bound, or taken from a column of
/// the row the statement's `SELECT` reads (a CTE's).
pub(super) enum Source<T> {
    Bound(T),
    Column(&'static str),
}

impl<T> Source<T> {
    fn push<'b, ST>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>
    where
        Pg: diesel::sql_types::HasSqlType<ST>,
        T: ToSql<ST, Pg>,
    {
        match self {
            Source::Bound(value) => out.push_bind_param::<ST, T>(value),
            Source::Column(column) => {
                out.push_sql(column);
                Ok(())
            }
        }
    }
}

/// The one definition of a new refresh record's columns for the one-statement writes
/// (`pairs`, `rotation`, `sign_in`): `push_insert` lists them and their values in one order.
pub(super) struct RefreshRow<'a> {
    pub token_hash: Source<&'a str>,
    pub family_id: Source<&'a str>,
    pub parent_id: Source<Option<i64>>,
    pub user_id: Source<i64>,
    pub application_id: Source<i64>,
    pub scope: Source<&'a str>,
    pub created_at: Source<i64>,
    pub expires_at: Source<i64>,
}

impl RefreshRow<'_> {
    /// `INSERT INTO refresh_tokens (...) SELECT ...`; the caller adds `FROM` and `RETURNING`.
    pub(super) fn push_insert<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO refresh_tokens (token_hash, family_id, parent_id, user_id, application_id, \
             scope, created_at, expires_at) SELECT ",
        );
        self.token_hash.push::<Text>(out)?;
        out.push_sql(", ");
        self.family_id.push::<Text>(out)?;
        out.push_sql(", ");
        self.parent_id.push::<Nullable<BigInt>>(out)?;
        out.push_sql(", ");
        self.user_id.push::<BigInt>(out)?;
        out.push_sql(", ");
        self.application_id.push::<BigInt>(out)?;
        out.push_sql(", ");
        self.scope.push::<Text>(out)?;
        out.push_sql(", ");
        self.created_at.push::<BigInt>(out)?;
        out.push_sql(", ");
        self.expires_at.push::<BigInt>(out)
    }
}

impl<'a> From<&NewRefresh<'a>> for RefreshRow<'a> {
    fn from(new: &NewRefresh<'a>) -> Self {
        RefreshRow {
            token_hash: Source::Bound(new.token_hash),
            family_id: Source::Bound(new.family_id),
            parent_id: Source::Bound(new.parent_id),
            user_id: Source::Bound(new.user_id),
            application_id: Source::Bound(new.application_id),
            scope: Source::Bound(new.scope),
            created_at: Source::Bound(new.created_at),
            expires_at: Source::Bound(new.expires_at),
        }
    }
}

/// `RefreshRow` for the access record written with it.
pub(super) struct AccessRow<'a> {
    pub jti: Source<&'a str>,
    pub user_id: Source<Option<i64>>,
    pub application_id: Source<i64>,
    pub refresh_token_id: Source<Option<i64>>,
    pub family_id: Source<Option<&'a str>>,
    pub scope: Source<&'a str>,
    pub created_at: Source<i64>,
    pub expires_at: Source<i64>,
}

impl AccessRow<'_> {
    /// `INSERT INTO access_tokens (...) SELECT ...`; the caller adds `FROM` and `RETURNING`.
    pub(super) fn push_insert<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO access_tokens (jti, user_id, application_id, refresh_token_id, family_id, \
             scope, created_at, expires_at) SELECT ",
        );
        self.jti.push::<Text>(out)?;
        out.push_sql(", ");
        self.user_id.push::<Nullable<BigInt>>(out)?;
        out.push_sql(", ");
        self.application_id.push::<BigInt>(out)?;
        out.push_sql(", ");
        self.refresh_token_id.push::<Nullable<BigInt>>(out)?;
        out.push_sql(", ");
        self.family_id.push::<Nullable<Text>>(out)?;
        out.push_sql(", ");
        self.scope.push::<Text>(out)?;
        out.push_sql(", ");
        self.created_at.push::<BigInt>(out)?;
        out.push_sql(", ");
        self.expires_at.push::<BigInt>(out)
    }
}

impl<'a> From<&NewAccess<'a>> for AccessRow<'a> {
    fn from(new: &NewAccess<'a>) -> Self {
        AccessRow {
            jti: Source::Bound(new.jti),
            user_id: Source::Bound(new.user_id),
            application_id: Source::Bound(new.application_id),
            refresh_token_id: Source::Bound(new.refresh_token_id),
            family_id: Source::Bound(new.family_id),
            scope: Source::Bound(new.scope),
            created_at: Source::Bound(new.created_at),
            expires_at: Source::Bound(new.expires_at),
        }
    }
}

impl RefreshRecord {
    pub fn find_by_key(conn: &mut DbConnection, key: &TokenKey) -> QueryResult<Option<RefreshRecord>> {
        on_backend!(conn, |c| refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(key.as_str()))
            .select(RefreshRecord::as_select())
            .get_result(c)
            .optional())
    }

    pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<RefreshRecord>> {
        refresh_tokens::table.find(id).select(RefreshRecord::as_select()).get_result(conn).optional()
    }

    /// The record and its user in one round trip: what a rotation needs to decide.
    pub fn find_with_user(
        conn: &mut DbConnection,
        key: &TokenKey,
    ) -> QueryResult<Option<(RefreshRecord, User)>> {
        on_backend!(conn, |c| refresh_tokens::table
            .inner_join(users::table)
            .filter(refresh_tokens::token_hash.eq(key.as_str()))
            .select((RefreshRecord::as_select(), User::as_select()))
            .get_result(c)
            .optional())
    }

    pub fn insert(conn: &mut Writer<'_>, new: &NewRefresh<'_>) -> QueryResult<i64> {
        on_backend!(&mut **conn, |c| diesel::insert_into(refresh_tokens::table)
            .values(new)
            .returning(refresh_tokens::id)
            .get_result(c))
    }

    /// Marks the token used if nobody else has: the row count decides a race.
    pub fn claim(conn: &mut Writer<'_>, id: i64, now: i64) -> QueryResult<bool> {
        let claimed = ClaimStatement { id, now }.execute(&mut **conn)?;
        Ok(claimed == 1)
    }

    /// The child a rotation of `parent_id` produced, if any.
    pub fn child_of(conn: &mut DbConnection, parent_id: i64) -> QueryResult<Option<RefreshRecord>> {
        refresh_tokens::table
            .filter(refresh_tokens::parent_id.eq(parent_id))
            .select(RefreshRecord::as_select())
            .get_result(conn)
            .optional()
    }
}

/// The claim as a statement type of its own, so each connection prepares it once:
/// diesel prepares every `diesel::update` anew (a changeset's columns may vary with
/// its values), which was a parse per rotation in SQLite's writer.
#[derive(QueryId)]
struct ClaimStatement {
    id: i64,
    now: i64,
}

impl<DB: Backend> QueryFragment<DB> for ClaimStatement
where
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE refresh_tokens SET used_at = ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.id)?;
        out.push_sql(" AND used_at IS NULL AND revoked_at IS NULL");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for ClaimStatement {}

impl AccessRecord {
    pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<AccessRecord>> {
        on_backend!(conn, |c| with_refresh!(access_tokens::table)
            .filter(access_tokens::id.eq(id))
            .select(AccessRecord::as_select())
            .get_result(c)
            .optional())
    }

    pub fn find_by_jti(conn: &mut DbConnection, jti: &str) -> QueryResult<Option<AccessRecord>> {
        on_backend!(conn, |c| with_refresh!(access_tokens::table)
            .filter(access_tokens::jti.eq(jti))
            .select(AccessRecord::as_select())
            .get_result(c)
            .optional())
    }

    /// The record and its user (if any) in one round trip: the Bearer extractor's query.
    pub fn find_with_user(
        conn: &mut DbConnection,
        jti: &str,
    ) -> QueryResult<Option<(AccessRecord, Option<User>)>> {
        on_backend!(conn, |c| with_refresh!(access_tokens::table)
            .left_join(users::table.on(users::id.nullable().eq(access_tokens::user_id)))
            .filter(access_tokens::jti.eq(jti))
            .select((AccessRecord::as_select(), Option::<User>::as_select()))
            .get_result(c)
            .optional())
    }

    /// The record, its user and the user's social links in one round trip (for
    /// `GET /auth/user`).
    #[allow(clippy::type_complexity)]
    pub fn find_with_user_and_links(
        conn: &mut DbConnection,
        jti: &str,
    ) -> QueryResult<Option<(AccessRecord, Option<User>, Vec<SocialAccount>)>> {
        let rows: Vec<(AccessRecord, Option<User>, Option<SocialAccount>)> = on_backend!(conn, |c| {
            with_refresh!(access_tokens::table)
                .left_join(users::table.on(users::id.nullable().eq(access_tokens::user_id)))
                .left_join(
                    social_accounts::table.on(social_accounts::user_id.nullable().eq(access_tokens::user_id)),
                )
                .filter(access_tokens::jti.eq(jti))
                .order(social_accounts::id)
                .select((
                    AccessRecord::as_select(),
                    Option::<User>::as_select(),
                    Option::<SocialAccount>::as_select(),
                ))
                .load(c)
        })?;
        let mut rows = rows.into_iter();
        let Some((record, user, first)) = rows.next() else { return Ok(None) };
        let links = first.into_iter().chain(rows.filter_map(|(_, _, link)| link)).collect();
        Ok(Some((record, user, links)))
    }

    pub fn insert(conn: &mut Writer<'_>, new: &NewAccess<'_>) -> QueryResult<usize> {
        on_backend!(&mut **conn, |c| diesel::insert_into(access_tokens::table).values(new).execute(c))
    }
}

/// Revocations. Each sets `revoked_at` only where it is still empty, so the first
/// revocation time is kept.
///
/// Revoking refresh tokens by family or by user repeats its UPDATE, over the families
/// the first pass found, until it revokes nothing. On PostgreSQL (READ COMMITTED) each
/// statement sees the rows committed when it began: a rotation that had claimed a token
/// of the family makes the UPDATE wait for it, and the child it then commits is not in
/// that UPDATE's snapshot. The next UPDATE sees it. Once a pass finds nothing, every
/// token is revoked or locked by us, so no rotation can claim one and add another
/// child; access tokens are revoked last, after every child (and its access token) is
/// visible. Sign-ins that start meanwhile are new families, left alone, so the loop
/// ends however busy the user is.
pub mod revoke {
    use super::*;

    /// Revokes what is left of `families` until a pass finds nothing.
    fn families_until_done(conn: &mut Writer<'_>, families: &[String], now: i64) -> QueryResult<usize> {
        let mut total = 0;
        loop {
            let revoked = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::family_id.eq_any(families))
                    .filter(refresh_tokens::revoked_at.is_null()),
            )
            .set(refresh_tokens::revoked_at.eq(now))
            .execute(&mut **conn)?;
            if revoked == 0 {
                return Ok(total);
            }
            total += revoked;
        }
    }

    /// The families of the tokens a first pass revoked, each once.
    fn distinct(mut families: Vec<String>) -> Vec<String> {
        families.sort_unstable();
        families.dedup();
        families
    }

    pub fn access_by_id(conn: &mut Writer<'_>, id: i64, now: i64) -> QueryResult<usize> {
        diesel::update(access_tokens::table.find(id).filter(access_tokens::revoked_at.is_null()))
            .set(access_tokens::revoked_at.eq(now))
            .execute(&mut **conn)
    }

    pub fn refresh_by_id(conn: &mut Writer<'_>, id: i64, now: i64) -> QueryResult<usize> {
        diesel::update(refresh_tokens::table.find(id).filter(refresh_tokens::revoked_at.is_null()))
            .set(refresh_tokens::revoked_at.eq(now))
            .execute(&mut **conn)
    }

    /// Every refresh token of a family and every access token issued from it.
    pub fn family(conn: &mut Writer<'_>, family_id: &str, now: i64) -> QueryResult<usize> {
        let refresh = families_until_done(conn, &[family_id.to_owned()], now)?;
        let access = diesel::update(
            access_tokens::table
                .filter(access_tokens::family_id.eq(family_id))
                .filter(access_tokens::revoked_at.is_null()),
        )
        .set(access_tokens::revoked_at.eq(now))
        .execute(&mut **conn)?;
        Ok(refresh + access)
    }

    /// A user's refresh tokens (and, with `access`, access tokens) for one application.
    pub fn user_application(
        conn: &mut Writer<'_>,
        user_id: i64,
        application_id: i64,
        access: bool,
        now: i64,
    ) -> QueryResult<usize> {
        let first: Vec<String> = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::user_id.eq(user_id))
                .filter(refresh_tokens::application_id.eq(application_id))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now))
        .returning(refresh_tokens::family_id)
        .get_results(&mut **conn)?;
        let mut count = first.len() + families_until_done(conn, &distinct(first), now)?;
        if access {
            count += diesel::update(
                access_tokens::table
                    .filter(access_tokens::user_id.eq(user_id))
                    .filter(access_tokens::application_id.eq(application_id))
                    .filter(access_tokens::revoked_at.is_null()),
            )
            .set(access_tokens::revoked_at.eq(now))
            .execute(&mut **conn)?;
        }
        Ok(count)
    }

    /// Every family of a user except `keep` (the session that asked), with its access tokens.
    pub fn user_families_except(
        conn: &mut Writer<'_>,
        user_id: i64,
        keep: Option<&str>,
        now: i64,
    ) -> QueryResult<usize> {
        let keep = keep.unwrap_or("");
        let first: Vec<String> = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::user_id.eq(user_id))
                .filter(refresh_tokens::family_id.ne(keep))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now))
        .returning(refresh_tokens::family_id)
        .get_results(&mut **conn)?;
        let refresh = first.len() + families_until_done(conn, &distinct(first), now)?;
        let access = diesel::update(
            access_tokens::table
                .filter(access_tokens::user_id.eq(user_id))
                .filter(access_tokens::family_id.is_null().or(access_tokens::family_id.ne(keep)))
                .filter(access_tokens::revoked_at.is_null()),
        )
        .set(access_tokens::revoked_at.eq(now))
        .execute(&mut **conn)?;
        Ok(refresh + access)
    }
}
