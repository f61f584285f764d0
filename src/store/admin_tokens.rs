//! Live tokens for the admin API: refresh tokens that can still be used (the head of
//! each sign-in's family) first, then access tokens, each newest first. One listing over
//! two tables: the page is cut from the refresh rows, then continued in the access rows.
//! Each row carries its user's email from the same query (a join), so that a page of
//! tokens costs no lookup per row.

use diesel::prelude::*;

use super::schema::{access_tokens, applications, refresh_tokens, users};
use super::Page;
use crate::db::DbConnection;

pub struct TokenFilter {
    pub user_id: Option<i64>,
    pub application_id: Option<i64>,
    pub now: i64,
}

pub struct LiveToken {
    pub kind: &'static str,
    pub id: i64,
    pub user_id: Option<i64>,
    /// `None` for a client's own token, or a user without an email.
    pub user_email: Option<String>,
    pub client_id: String,
    pub family_id: Option<String>,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
}

type Row<U, F> = (i64, U, Option<String>, String, F, String, i64, i64);

pub fn live(conn: &mut DbConnection, filter: &TokenFilter, page: Page) -> QueryResult<(Vec<LiveToken>, i64)> {
    let refresh = || {
        let mut query = refresh_tokens::table
            .inner_join(applications::table)
            .left_join(users::table)
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::expires_at.gt(filter.now))
            .into_boxed();
        if let Some(user_id) = filter.user_id {
            query = query.filter(refresh_tokens::user_id.eq(user_id));
        }
        if let Some(application_id) = filter.application_id {
            query = query.filter(refresh_tokens::application_id.eq(application_id));
        }
        query
    };
    let access = || {
        // An access token whose refresh token was rotated is revoked (`AccessRecord`).
        let mut query = access_tokens::table
            .inner_join(applications::table)
            .left_join(
                refresh_tokens::table.on(refresh_tokens::id.nullable().eq(access_tokens::refresh_token_id)),
            )
            // A client_credentials token has no user.
            .left_join(users::table.on(access_tokens::user_id.eq(users::id.nullable())))
            .filter(access_tokens::revoked_at.is_null())
            .filter(refresh_tokens::used_at.is_null())
            .filter(access_tokens::expires_at.gt(filter.now))
            .into_boxed();
        if let Some(user_id) = filter.user_id {
            query = query.filter(access_tokens::user_id.eq(user_id));
        }
        if let Some(application_id) = filter.application_id {
            query = query.filter(access_tokens::application_id.eq(application_id));
        }
        query
    };
    let refresh_total: i64 = refresh().count().get_result(conn)?;
    let access_total: i64 = access().count().get_result(conn)?;
    let mut items = Vec::new();
    if page.offset() < refresh_total {
        let rows: Vec<Row<i64, String>> = refresh()
            .order(refresh_tokens::id.desc())
            .limit(page.per_page)
            .offset(page.offset())
            .select((
                refresh_tokens::id,
                refresh_tokens::user_id,
                users::email.nullable(),
                applications::client_id,
                refresh_tokens::family_id,
                refresh_tokens::scope,
                refresh_tokens::created_at,
                refresh_tokens::expires_at,
            ))
            .load(conn)?;
        items.extend(rows.into_iter().map(
            |(id, user_id, user_email, client_id, family_id, scope, created_at, expires_at)| LiveToken {
                kind: "refresh",
                id,
                user_id: Some(user_id),
                user_email,
                client_id,
                family_id: Some(family_id),
                scope,
                created_at,
                expires_at,
            },
        ));
    }
    let wanted = page.per_page - items.len() as i64;
    if wanted > 0 {
        let offset = (page.offset() - refresh_total).max(0);
        let rows: Vec<Row<Option<i64>, Option<String>>> = access()
            .order(access_tokens::id.desc())
            .limit(wanted)
            .offset(offset)
            .select((
                access_tokens::id,
                access_tokens::user_id,
                users::email.nullable(),
                applications::client_id,
                access_tokens::family_id,
                access_tokens::scope,
                access_tokens::created_at,
                access_tokens::expires_at,
            ))
            .load(conn)?;
        items.extend(rows.into_iter().map(
            |(id, user_id, user_email, client_id, family_id, scope, created_at, expires_at)| LiveToken {
                kind: "access",
                id,
                user_id,
                user_email,
                client_id,
                family_id,
                scope,
                created_at,
                expires_at,
            },
        ));
    }
    Ok((items, refresh_total + access_total))
}
