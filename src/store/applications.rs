//! Applications: the registered OAuth clients.

use diesel::prelude::*;

use super::schema::{application_changes, applications};
use super::Page;
use crate::db::{DbConnection, Writer};
use crate::domain::{ClientType, GrantType, IdTokenAlg};
use crate::on_backend;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = applications)]
pub struct Application {
    pub id: i64,
    pub client_id: String,
    /// SHA-256 hex of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub name: String,
    pub client_type: String,
    /// Space-separated grant type names.
    pub grant_types: String,
    /// Space-separated redirect URIs.
    pub redirect_uris: String,
    pub skip_authorization: bool,
    pub owner_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Space-separated URIs RP-initiated logout may return to.
    pub post_logout_redirect_uris: String,
    /// How this application's ID tokens are signed: `RS256` or `EdDSA`.
    pub id_token_signed_response_alg: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = applications, treat_none_as_default_value = false)]
pub struct NewApplication<'a> {
    pub client_id: &'a str,
    pub secret_hash: Option<&'a str>,
    pub name: &'a str,
    pub client_type: &'a str,
    pub grant_types: &'a str,
    pub redirect_uris: &'a str,
    pub skip_authorization: bool,
    pub owner_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub post_logout_redirect_uris: &'a str,
    pub id_token_signed_response_alg: &'a str,
}

impl Application {
    pub fn client_type(&self) -> ClientType {
        ClientType::parse(&self.client_type).unwrap_or(ClientType::Confidential)
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.split_whitespace().any(|g| g == grant.as_str())
    }

    pub fn grants(&self) -> Vec<&str> {
        self.grant_types.split_whitespace().collect()
    }

    pub fn redirect_uri_list(&self) -> Vec<&str> {
        self.redirect_uris.split_whitespace().collect()
    }

    pub fn post_logout_redirect_uri_list(&self) -> Vec<&str> {
        self.post_logout_redirect_uris.split_whitespace().collect()
    }

    /// The column holds only what `IdTokenAlg::parse` accepted; anything else (a hand-made
    /// row) falls back to RS256, which every relying party can verify.
    pub fn id_token_alg(&self) -> IdTokenAlg {
        IdTokenAlg::parse(&self.id_token_signed_response_alg).unwrap_or_default()
    }

    pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Application>> {
        on_backend!(conn, |c| applications::table
            .find(id)
            .select(Application::as_select())
            .get_result(c)
            .optional())
    }

    pub fn find_by_client_id(conn: &mut DbConnection, client_id: &str) -> QueryResult<Option<Application>> {
        // PostgreSQL refuses NUL in text; no client id contains one, so it names nothing.
        if client_id.contains('\0') {
            return Ok(None);
        }
        on_backend!(conn, |c| applications::table
            .filter(applications::client_id.eq(client_id))
            .select(Application::as_select())
            .get_result(c)
            .optional())
    }

    /// SQLite: the stamp that every change to `applications` replaces (migration 5);
    /// `None` if its row is gone, and then nothing can be confirmed against it.
    pub fn changes_stamp(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
        on_backend!(conn, |c| application_changes::table
            .find(1)
            .select(application_changes::stamp)
            .get_result(c)
            .optional())
    }

    /// PostgreSQL: the server processes of the sessions on this database that call
    /// themselves `application_name` (the servers' cache listeners). None on SQLite.
    pub fn sessions_named(conn: &mut DbConnection, application_name: &str) -> QueryResult<Vec<i32>> {
        #[derive(QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        let DbConnection::Pg(pg) = conn else { return Ok(Vec::new()) };
        let sql =
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1";
        let rows: Vec<Pid> =
            diesel::sql_query(sql).bind::<diesel::sql_types::Text, _>(application_name).load(pg)?;
        Ok(rows.into_iter().map(|row| row.pid).collect())
    }

    /// PostgreSQL: the id of the transaction under way, which the change notification
    /// of `applications` carries (migration 3). 0 on SQLite, which sends none.
    pub fn transaction_id(conn: &mut DbConnection) -> QueryResult<i64> {
        #[derive(QueryableByName)]
        struct TransactionId {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            txid: i64,
        }
        let DbConnection::Pg(pg) = conn else { return Ok(0) };
        Ok(diesel::sql_query("SELECT txid_current() AS txid").get_result::<TransactionId>(pg)?.txid)
    }

    pub fn insert(conn: &mut Writer<'_>, new: &NewApplication<'_>) -> QueryResult<Application> {
        diesel::insert_into(applications::table).values(new).execute(&mut **conn)?;
        applications::table
            .filter(applications::client_id.eq(new.client_id))
            .select(Application::as_select())
            .get_result(&mut **conn)
    }

    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<Application>> {
        applications::table.order(applications::id).select(Application::as_select()).load(conn)
    }

    /// Sets `hash` only where the stored secret hash is still `replaces`.
    pub fn replace_secret_hash(
        conn: &mut Writer<'_>,
        id: i64,
        replaces: &str,
        hash: &str,
    ) -> QueryResult<usize> {
        diesel::update(applications::table.find(id).filter(applications::secret_hash.eq(replaces)))
            .set(applications::secret_hash.eq(hash))
            .execute(&mut **conn)
    }

    pub fn set_secret_hash(conn: &mut Writer<'_>, id: i64, hash: &str, at: i64) -> QueryResult<usize> {
        diesel::update(applications::table.find(id))
            .set((applications::secret_hash.eq(hash), applications::updated_at.eq(at)))
            .execute(&mut **conn)
    }

    pub fn page(conn: &mut DbConnection, page: Page) -> QueryResult<(Vec<Application>, i64)> {
        let total = applications::table.count().get_result(conn)?;
        let items = applications::table
            .order(applications::id)
            .limit(page.per_page)
            .offset(page.offset())
            .select(Application::as_select())
            .load(conn)?;
        Ok((items, total))
    }

    pub fn update(
        conn: &mut Writer<'_>,
        id: i64,
        changes: &ApplicationChanges<'_>,
    ) -> QueryResult<Application> {
        diesel::update(applications::table.find(id)).set(changes).execute(&mut **conn)?;
        applications::table.find(id).select(Application::as_select()).get_result(&mut **conn)
    }

    pub fn update_imported(
        conn: &mut Writer<'_>,
        id: i64,
        changes: &ImportedApplicationChanges<'_>,
    ) -> QueryResult<usize> {
        diesel::update(applications::table.find(id)).set(changes).execute(&mut **conn)
    }

    /// Sets the stored secret, or none (a public client's).
    pub fn set_optional_secret_hash(
        conn: &mut Writer<'_>,
        id: i64,
        hash: Option<&str>,
    ) -> QueryResult<usize> {
        diesel::update(applications::table.find(id))
            .set(applications::secret_hash.eq(hash))
            .execute(&mut **conn)
    }

    /// Deletes the application; its tokens and codes go with it (ON DELETE CASCADE).
    pub fn delete(conn: &mut Writer<'_>, id: i64) -> QueryResult<usize> {
        diesel::delete(applications::table.find(id)).execute(&mut **conn)
    }
}

/// What an import writes again of an application it brought over before.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = applications, treat_none_as_null = true)]
pub struct ImportedApplicationChanges<'a> {
    pub name: &'a str,
    pub client_type: &'a str,
    pub grant_types: &'a str,
    pub redirect_uris: &'a str,
    pub skip_authorization: bool,
    pub owner_id: Option<i64>,
    pub updated_at: i64,
}

/// What the admin API may change on an application.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = applications)]
pub struct ApplicationChanges<'a> {
    pub name: &'a str,
    pub grant_types: &'a str,
    pub redirect_uris: &'a str,
    pub skip_authorization: bool,
    pub post_logout_redirect_uris: &'a str,
    pub id_token_signed_response_alg: &'a str,
    pub updated_at: i64,
}
