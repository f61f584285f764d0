//! Links mailed to users (password reset, verification, change of address), kept only as
//! the SHA-256 of their token.

use diesel::prelude::*;

use super::schema::{email_tokens, users};
use super::users::User;
use crate::db::{DbConnection, Writer};

/// What a mailed link does; stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    Verification,
    AddressChange,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "password_reset",
            Purpose::Verification => "verification",
            Purpose::AddressChange => "address_change",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_tokens)]
pub struct EmailToken {
    pub id: i64,
    pub user_id: i64,
    /// The address the link was mailed to.
    pub email: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = email_tokens)]
pub struct NewEmailToken<'a> {
    pub purpose: &'a str,
    pub token_hash: &'a str,
    pub user_id: i64,
    pub email: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a new link, and drops the user's unused links of the same purpose: the newest
/// mail is the only one that works. Used links stay, so that opening one again says so.
pub fn replace(conn: &mut Writer<'_>, purpose: Purpose, new: &NewEmailToken<'_>) -> QueryResult<()> {
    diesel::delete(
        email_tokens::table
            .filter(email_tokens::user_id.eq(new.user_id))
            .filter(email_tokens::purpose.eq(purpose.as_str()))
            .filter(email_tokens::used_at.is_null()),
    )
    .execute(&mut **conn)?;
    diesel::insert_into(email_tokens::table).values(new).execute(&mut **conn)?;
    Ok(())
}

/// The link with this hash and purpose, with its user.
pub fn find(
    conn: &mut DbConnection,
    purpose: Purpose,
    token_hash: &str,
) -> QueryResult<Option<(EmailToken, User)>> {
    email_tokens::table
        .inner_join(users::table)
        .filter(email_tokens::token_hash.eq(token_hash))
        .filter(email_tokens::purpose.eq(purpose.as_str()))
        .select((EmailToken::as_select(), User::as_select()))
        .get_result(conn)
        .optional()
}

/// Uses the link up, if it is still unused and unexpired at `now`: of two requests with one
/// link, exactly one gets `true`.
pub fn consume(conn: &mut Writer<'_>, id: i64, now: i64) -> QueryResult<bool> {
    let claimed = diesel::update(
        email_tokens::table
            .find(id)
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::expires_at.gt(now)),
    )
    .set(email_tokens::used_at.eq(now))
    .execute(&mut **conn)?;
    Ok(claimed == 1)
}
