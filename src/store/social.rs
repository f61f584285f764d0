//! Links between users and their identities at Google, Facebook and Apple.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::{social_accounts, users};
use super::users::User;
use super::Page;
use crate::db::{DbConnection, Writer};
use crate::on_backend;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = social_accounts)]
pub struct SocialAccount {
    pub id: i64,
    pub user_id: i64,
    pub provider: String,
    pub uid: String,
    #[serde(skip)]
    pub extra_data: String,
    pub created_at: i64,
}

impl SocialAccount {
    pub fn for_user(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<SocialAccount>> {
        social_accounts::table
            .filter(social_accounts::user_id.eq(user_id))
            .order(social_accounts::id)
            .select(SocialAccount::as_select())
            .load(conn)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = social_accounts)]
pub struct NewSocialAccount<'a> {
    pub user_id: i64,
    pub provider: &'a str,
    pub uid: &'a str,
    pub extra_data: &'a str,
    pub created_at: i64,
}

impl SocialAccount {
    pub fn find(conn: &mut DbConnection, provider: &str, uid: &str) -> QueryResult<Option<SocialAccount>> {
        social_accounts::table
            .filter(social_accounts::provider.eq(provider))
            .filter(social_accounts::uid.eq(uid))
            .select(SocialAccount::as_select())
            .get_result(conn)
            .optional()
    }

    /// The link and its user in one round trip.
    pub fn find_with_user(
        conn: &mut DbConnection,
        provider: &str,
        uid: &str,
    ) -> QueryResult<Option<(SocialAccount, User)>> {
        on_backend!(conn, |c| social_accounts::table
            .inner_join(users::table)
            .filter(social_accounts::provider.eq(provider))
            .filter(social_accounts::uid.eq(uid))
            .select((SocialAccount::as_select(), User::as_select()))
            .get_result(c)
            .optional())
    }

    pub fn insert(conn: &mut Writer<'_>, new: &NewSocialAccount<'_>) -> QueryResult<usize> {
        diesel::insert_into(social_accounts::table).values(new).execute(&mut **conn)
    }

    /// Keeps the provider's refresh token, sealed (`crypto::sealed`); None leaves the
    /// one kept before, since providers send a refresh token only on first consent.
    pub fn set_refresh_token(conn: &mut Writer<'_>, id: i64, sealed: &str) -> QueryResult<usize> {
        diesel::update(social_accounts::table.find(id))
            .set(social_accounts::provider_refresh_token.eq(sealed))
            .execute(&mut **conn)
    }

    /// Every link that keeps a provider refresh token: id, provider, uid and the sealed token.
    pub fn with_refresh_tokens(conn: &mut DbConnection) -> QueryResult<Vec<(i64, String, String, String)>> {
        social_accounts::table
            .filter(social_accounts::provider_refresh_token.is_not_null())
            .select((
                social_accounts::id,
                social_accounts::provider,
                social_accounts::uid,
                social_accounts::provider_refresh_token.assume_not_null(),
            ))
            .load(conn)
    }

    pub fn sealed_refresh_token(conn: &mut DbConnection, id: i64) -> QueryResult<Option<String>> {
        social_accounts::table.find(id).select(social_accounts::provider_refresh_token).get_result(conn)
    }

    pub fn find_by_id(conn: &mut DbConnection, id: i64) -> QueryResult<Option<SocialAccount>> {
        social_accounts::table.find(id).select(SocialAccount::as_select()).get_result(conn).optional()
    }

    /// A page of links, of one user or of everyone, newest first.
    pub fn page(
        conn: &mut DbConnection,
        user_id: Option<i64>,
        page: Page,
    ) -> QueryResult<(Vec<SocialAccount>, i64)> {
        let query = || {
            let mut query = social_accounts::table.into_boxed();
            if let Some(user_id) = user_id {
                query = query.filter(social_accounts::user_id.eq(user_id));
            }
            query
        };
        let total = query().count().get_result(conn)?;
        let items = query()
            .order(social_accounts::id.desc())
            .limit(page.per_page)
            .offset(page.offset())
            .select(SocialAccount::as_select())
            .load(conn)?;
        Ok((items, total))
    }

    /// Moves a link to another provider uid (an email-keyed Google link to its `sub`).
    pub fn rekey(conn: &mut Writer<'_>, id: i64, uid: &str, extra: &str) -> QueryResult<usize> {
        diesel::update(social_accounts::table.find(id))
            .set((social_accounts::uid.eq(uid), social_accounts::extra_data.eq(extra)))
            .execute(&mut **conn)
    }

    pub fn set_extra(conn: &mut Writer<'_>, id: i64, extra: &str) -> QueryResult<usize> {
        diesel::update(social_accounts::table.find(id))
            .set(social_accounts::extra_data.eq(extra))
            .execute(&mut **conn)
    }

    /// Moves the link to `user_id` and replaces its extra data (an import's update).
    pub fn set_user_and_extra(
        conn: &mut Writer<'_>,
        id: i64,
        user_id: i64,
        extra: &str,
    ) -> QueryResult<usize> {
        diesel::update(social_accounts::table.find(id))
            .set((social_accounts::user_id.eq(user_id), social_accounts::extra_data.eq(extra)))
            .execute(&mut **conn)
    }

    pub fn delete(conn: &mut Writer<'_>, id: i64) -> QueryResult<usize> {
        diesel::delete(social_accounts::table.find(id)).execute(&mut **conn)
    }
}
