//! Signing keys for access tokens; retired keys stay published until their tokens expire.

use diesel::prelude::*;

use super::schema::signing_keys;
use crate::db::{DbConnection, Writer};

/// The `algorithm` of an Ed25519 key (access tokens, EdDSA ID tokens) and of an RSA key
/// (RS256 ID tokens).
pub const EDDSA: &str = "EdDSA";
pub const RS256: &str = "RS256";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub id: i64,
    pub kid: String,
    pub algorithm: String,
    /// Base64 (standard) PKCS#8 DER of the private key.
    pub private_key: String,
    /// Ed25519: base64url of the raw public key, the JWKS `x`. RSA: the JWKS `n` and `e`,
    /// base64url, joined by a dot.
    pub public_key: String,
    pub created_at: i64,
    /// From when it stops signing (it may lie ahead: a scheduled rotation).
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
    /// From when it signs; `None`: from its creation.
    pub activates_at: Option<i64>,
}

impl SigningKeyRow {
    /// Whether the key signs at `now`: active, and not yet retired.
    pub fn signs_at(&self, now: i64) -> bool {
        self.activates_at.is_none_or(|at| at <= now) && self.retired_at.is_none_or(|at| at > now)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewSigningKey<'a> {
    pub kid: &'a str,
    pub algorithm: &'a str,
    pub private_key: &'a str,
    pub public_key: &'a str,
    pub created_at: i64,
    pub activates_at: Option<i64>,
}

/// Keys still published at `now`, newest first (which of them signs, per algorithm, is
/// `tokens::keys`'s choice: the newest active at `now`).
pub fn published(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table
        .filter(signing_keys::publish_until.is_null().or(signing_keys::publish_until.gt(now)))
        .order(signing_keys::id.desc())
        .select(SigningKeyRow::as_select())
        .load(conn)
}

pub fn insert(conn: &mut Writer<'_>, new: &NewSigningKey<'_>) -> QueryResult<usize> {
    diesel::insert_into(signing_keys::table).values(new).execute(&mut **conn)
}

/// Retires every key but those in `keep` at `retired_at` (now, or when the new keys
/// activate), publishing them until `publish_until`.
pub fn retire_all_but(
    conn: &mut Writer<'_>,
    keep: &[String],
    retired_at: i64,
    publish_until: i64,
) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table.filter(signing_keys::kid.ne_all(keep)).filter(signing_keys::retired_at.is_null()),
    )
    .set((signing_keys::retired_at.eq(retired_at), signing_keys::publish_until.eq(publish_until)))
    .execute(&mut **conn)
}

/// When the newest key was made, if there is one.
pub fn newest(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    signing_keys::table.select(diesel::dsl::max(signing_keys::created_at)).get_result(conn)
}

/// Makes the caller's transaction the only one deciding a rotation, so two servers never
/// rotate at once: on PostgreSQL a transaction-scoped advisory lock; on SQLite the write
/// lock, taken before the transaction reads (a read lock upgraded later would fail at
/// once against another server's, where waiting for the write lock does not).
pub fn lock_rotation(conn: &mut Writer<'_>) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    match &mut **conn {
        // An arbitrary constant naming this lock among the database's advisory locks.
        DbConnection::Pg(pg) => pg.batch_execute("SELECT pg_advisory_xact_lock(7405318342)"),
        DbConnection::Sqlite(lite) => lite.batch_execute("UPDATE signing_keys SET kid = kid WHERE 0"),
    }
}

/// Every key, published or not (for re-sealing them all).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<SigningKeyRow>> {
    signing_keys::table.order(signing_keys::id).select(SigningKeyRow::as_select()).load(conn)
}

pub fn set_private_key(conn: &mut Writer<'_>, id: i64, private_key: &str) -> QueryResult<usize> {
    diesel::update(signing_keys::table.find(id))
        .set(signing_keys::private_key.eq(private_key))
        .execute(&mut **conn)
}
