//! Users: accounts that sign in with a password or through a social provider.

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::BigInt;

use super::schema::users;
use super::Page;
use crate::db::{DbConnection, Writer};
use crate::on_backend;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: Option<String>,
    pub username: String,
    pub password_hash: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub date_joined: i64,
    pub last_login: Option<i64>,
    /// Someone proved they receive mail at `email`: a link we mailed, or a provider's word.
    pub email_verified: bool,
    /// The last change of the profile (names, address); `None` when unchanged since sign-up.
    pub updated_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser<'a> {
    pub email: Option<&'a str>,
    pub username: &'a str,
    pub password_hash: Option<&'a str>,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub is_active: bool,
    pub is_staff: bool,
    pub date_joined: i64,
    pub email_verified: bool,
}

/// What an import writes of a user besides the id and the password hash.
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct ImportedProfile<'a> {
    pub email: Option<&'a str>,
    pub username: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub is_active: bool,
    pub is_staff: bool,
    pub date_joined: i64,
    pub last_login: Option<i64>,
}

/// A user brought over from another system with the id it had there.
#[derive(Debug, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct ImportedUser<'a> {
    pub id: i64,
    pub password_hash: Option<&'a str>,
    #[diesel(embed)]
    pub profile: ImportedProfile<'a>,
}

/// The public shape of a user: what the API shows of one (never the password hash).
#[derive(serde::Serialize)]
pub struct UserView {
    pub id: i64,
    pub email: Option<String>,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: i64,
    pub email_verified: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            username: u.username.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            is_staff: u.is_staff,
            is_active: u.is_active,
            date_joined: u.date_joined,
            email_verified: u.email_verified,
        }
    }
}

impl User {
    pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<User>> {
        on_backend!(conn, |c| users::table.find(id).select(User::as_select()).get_result(c).optional())
    }

    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
        users::table.filter(users::email.eq(email)).select(User::as_select()).get_result(conn).optional()
    }

    /// Password sign-in accepts the email (case-insensitive) or the exact username.
    pub fn find_by_login(conn: &mut DbConnection, login: &str) -> QueryResult<Option<User>> {
        let login = login.trim();
        let email = login.to_lowercase();
        let mut found: Vec<User> = users::table
            .filter(users::email.eq(&email).or(users::username.eq(login)))
            .select(User::as_select())
            .limit(2)
            .load(conn)?;
        // An email match wins over a username that happens to look like someone's email.
        found.sort_by_key(|u| u.email.as_deref() != Some(email.as_str()));
        Ok(found.into_iter().next())
    }

    pub fn find_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .get_result(conn)
            .optional()
    }

    pub fn username_taken(conn: &mut DbConnection, username: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(users::table.filter(users::username.eq(username))))
            .get_result(conn)
    }

    /// Inserts and returns the new row (looked up by its unique username, which works
    /// on both backends without RETURNING).
    pub fn insert(conn: &mut Writer<'_>, new: &NewUser<'_>) -> QueryResult<User> {
        diesel::insert_into(users::table).values(new).execute(&mut **conn)?;
        users::table
            .filter(users::username.eq(new.username))
            .select(User::as_select())
            .get_result(&mut **conn)
    }

    /// Inserts a user under the id it is given (an import's, which keeps Django's ids).
    pub fn insert_imported(conn: &mut Writer<'_>, new: &ImportedUser<'_>) -> QueryResult<usize> {
        diesel::insert_into(users::table).values(new).execute(&mut **conn)
    }

    pub fn update_profile(
        conn: &mut Writer<'_>,
        id: i64,
        profile: &ImportedProfile<'_>,
    ) -> QueryResult<usize> {
        diesel::update(users::table.find(id)).set(profile).execute(&mut **conn)
    }

    /// Sets the hash, or none (no usable password).
    pub fn set_optional_password_hash(
        conn: &mut Writer<'_>,
        id: i64,
        hash: Option<&str>,
    ) -> QueryResult<usize> {
        diesel::update(users::table.find(id)).set(users::password_hash.eq(hash)).execute(&mut **conn)
    }

    /// PostgreSQL: moves the id sequence past the largest id, so that users inserted with
    /// their own ids (an import) are not given again to sign-ups. SQLite's AUTOINCREMENT
    /// already counts from the largest id ever inserted.
    pub fn move_id_sequence_past_ids(conn: &mut Writer<'_>) -> QueryResult<()> {
        use diesel::connection::SimpleConnection;
        if let DbConnection::Pg(pg) = &mut **conn {
            pg.batch_execute(
                "SELECT setval(pg_get_serial_sequence('users', 'id'),                  (SELECT MAX(id) FROM users))                  WHERE (SELECT MAX(id) FROM users) > (SELECT last_value FROM users_id_seq)",
            )?;
        }
        Ok(())
    }

    /// A username not yet taken, derived from `base` (an email's local part or a name).
    pub fn unique_username(conn: &mut DbConnection, base: &str) -> QueryResult<String> {
        let cleaned: String = base
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
            .take(30)
            .collect::<String>()
            .to_lowercase();
        let base = if cleaned.is_empty() { "user".to_owned() } else { cleaned };
        if !Self::username_taken(conn, &base)? {
            return Ok(base);
        }
        for _ in 0..20 {
            let candidate = format!("{base}{}", rand::random::<u32>() % 100_000);
            if !Self::username_taken(conn, &candidate)? {
                return Ok(candidate);
            }
        }
        Ok(format!("{base}{}", crate::tokens::random::token(8)))
    }

    pub fn set_password_hash(conn: &mut Writer<'_>, id: i64, hash: &str) -> QueryResult<usize> {
        diesel::update(users::table.find(id)).set(users::password_hash.eq(hash)).execute(&mut **conn)
    }

    /// Sets `hash` only where the stored hash is still `replaces`; the row count says whether.
    pub fn replace_password_hash(
        conn: &mut Writer<'_>,
        id: i64,
        replaces: &str,
        hash: &str,
    ) -> QueryResult<usize> {
        diesel::update(users::table.find(id).filter(users::password_hash.eq(replaces)))
            .set(users::password_hash.eq(hash))
            .execute(&mut **conn)
    }

    pub fn mark_email_verified(conn: &mut Writer<'_>, id: i64) -> QueryResult<usize> {
        diesel::update(users::table.find(id)).set(users::email_verified.eq(true)).execute(&mut **conn)
    }

    /// A changed address, proved by the link mailed to it: verified.
    pub fn set_verified_email(conn: &mut Writer<'_>, id: i64, email: &str) -> QueryResult<usize> {
        diesel::update(users::table.find(id))
            .set((
                users::email.eq(email),
                users::email_verified.eq(true),
                users::updated_at.eq(crate::time::now()),
            ))
            .execute(&mut **conn)
    }

    pub fn set_names(conn: &mut Writer<'_>, id: i64, first: &str, last: &str) -> QueryResult<usize> {
        diesel::update(users::table.find(id))
            .set((
                users::first_name.eq(first),
                users::last_name.eq(last),
                users::updated_at.eq(crate::time::now()),
            ))
            .execute(&mut **conn)
    }

    pub fn set_active(conn: &mut Writer<'_>, id: i64, active: bool) -> QueryResult<usize> {
        diesel::update(users::table.find(id)).set(users::is_active.eq(active)).execute(&mut **conn)
    }

    pub fn set_staff(conn: &mut Writer<'_>, id: i64, staff: bool) -> QueryResult<usize> {
        diesel::update(users::table.find(id)).set(users::is_staff.eq(staff)).execute(&mut **conn)
    }

    pub fn touch_last_login(conn: &mut Writer<'_>, id: i64, at: i64) -> QueryResult<usize> {
        TouchStatement { id, at }.execute(&mut **conn)
    }

    /// A page of users whose email or username contains `q`, ordered by id.
    pub fn search(conn: &mut DbConnection, q: Option<&str>, page: Page) -> QueryResult<(Vec<User>, i64)> {
        let filter = |q: &Option<String>| {
            let mut query = users::table.into_boxed();
            if let Some(q) = q {
                // `%` and `_` in the query are the characters themselves, not wildcards.
                let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                let pattern = format!("%{escaped}%");
                query = query.filter(
                    users::email
                        .like(pattern.clone())
                        .escape('\\')
                        .or(users::username.like(pattern).escape('\\')),
                );
            }
            query
        };
        let q = q.map(str::to_lowercase).filter(|q| !q.is_empty());
        let total = filter(&q).count().get_result(conn)?;
        let items = filter(&q)
            .order(users::id)
            .limit(page.per_page)
            .offset(page.offset())
            .select(User::as_select())
            .load(conn)?;
        Ok((items, total))
    }
}

/// `last_login` is set by every sign-in; as a statement type of its own it is prepared
/// once per connection, where diesel prepares each `diesel::update` anew.
#[derive(QueryId)]
struct TouchStatement {
    id: i64,
    at: i64,
}

impl<DB: Backend> QueryFragment<DB> for TouchStatement
where
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE users SET last_login = ");
        out.push_bind_param::<BigInt, _>(&self.at)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.id)?;
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for TouchStatement {}
