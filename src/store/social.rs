//! Links between users and their identities at Google, Facebook and Apple.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::social_accounts;
use crate::db::DbConnection;

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
