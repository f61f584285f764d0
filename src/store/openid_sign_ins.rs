//! Sign-ins that asked for `openid`: when the user authenticated, so that the ID token of
//! every later refresh of the family carries the same `auth_time` (SPEC §13).

use diesel::prelude::*;

use super::schema::openid_sign_ins;
use crate::db::{DbConnection, Writer};

pub fn record(conn: &mut Writer<'_>, family_id: &str, auth_time: i64, now: i64) -> QueryResult<usize> {
    diesel::insert_into(openid_sign_ins::table)
        .values((
            openid_sign_ins::family_id.eq(family_id),
            openid_sign_ins::auth_time.eq(auth_time),
            openid_sign_ins::created_at.eq(now),
        ))
        .execute(&mut **conn)
}

pub fn auth_time(conn: &mut DbConnection, family_id: &str) -> QueryResult<Option<i64>> {
    openid_sign_ins::table.find(family_id).select(openid_sign_ins::auth_time).get_result(conn).optional()
}
