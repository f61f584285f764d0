//! The audit log: who did what to which object, when, and from where.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::schema::{audit_events, users};
use super::Page;
use crate::db::{DbConnection, Writer};
use crate::on_backend;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub created_at: i64,
    pub actor_user_id: Option<i64>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub ip: Option<String>,
    pub detail: String,
}

/// An event as the admin API lists it, with the emails of the users it names, so that
/// a person reads who did what to whom rather than numbers.
#[derive(Debug, Serialize)]
pub struct ListedEvent {
    #[serde(flatten)]
    pub event: AuditEvent,
    pub actor_email: Option<String>,
    /// Set when the target is a user.
    pub target_email: Option<String>,
}

#[derive(Debug, Default, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct NewAuditEvent<'a> {
    pub created_at: i64,
    pub actor_user_id: Option<i64>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip: Option<&'a str>,
    pub detail: &'a str,
}

impl<'a> NewAuditEvent<'a> {
    /// Binds `, action, target_type, target_id, ip, detail` for a PostgreSQL statement
    /// that writes the event inside a larger one (its time and actor come first).
    pub fn push_fields<'b>(
        &'b self,
        out: &mut diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Nullable, Text};
        for text in [&self.action, &self.target_type, &self.target_id] {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.ip)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.detail)
    }
}

/// Appends an event, timed now; call it in the same transaction as the change it records.
pub fn record(conn: &mut Writer<'_>, event: NewAuditEvent<'_>) -> QueryResult<usize> {
    insert(conn, &NewAuditEvent { created_at: crate::time::now(), ..event })
}

/// Appends an event with the time it carries.
pub fn insert(conn: &mut Writer<'_>, event: &NewAuditEvent<'_>) -> QueryResult<usize> {
    on_backend!(&mut **conn, |c| diesel::insert_into(audit_events::table).values(event).execute(c))
}

/// A browser signed in (`detail`: the provider, or empty for a password).
pub fn browser_sign_in(conn: &mut Writer<'_>, user_id: i64, ip: &str, detail: &str) -> QueryResult<usize> {
    record(
        conn,
        NewAuditEvent {
            actor_user_id: Some(user_id),
            action: "login.browser",
            target_type: "user",
            target_id: &user_id.to_string(),
            ip: Some(ip),
            detail,
            ..Default::default()
        },
    )
}

pub fn recent(conn: &mut DbConnection, action: &str, limit: i64) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .filter(audit_events::action.eq(action))
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

/// One page of the log, newest first, with the emails of its users: one query for the
/// events and one for every email on the page, however many rows it has.
pub fn page(
    conn: &mut DbConnection,
    action: Option<&str>,
    page: Page,
) -> QueryResult<(Vec<ListedEvent>, i64)> {
    let query = || {
        let mut query = audit_events::table.into_boxed();
        if let Some(action) = action {
            query = query.filter(audit_events::action.eq(action));
        }
        query
    };
    let total = query().count().get_result(conn)?;
    let items = query()
        .order(audit_events::id.desc())
        .limit(page.per_page)
        .offset(page.offset())
        .select(AuditEvent::as_select())
        .load(conn)?;
    let user_target = |event: &AuditEvent| {
        (event.target_type == "user").then(|| event.target_id.parse::<i64>().ok()).flatten()
    };
    let mut ids: Vec<i64> = items.iter().flat_map(|e| [e.actor_user_id, user_target(e)]).flatten().collect();
    ids.sort_unstable();
    ids.dedup();
    let emails: HashMap<i64, Option<String>> = if ids.is_empty() {
        HashMap::new()
    } else {
        users::table
            .filter(users::id.eq_any(&ids))
            .select((users::id, users::email))
            .load(conn)?
            .into_iter()
            .collect()
    };
    let email_of = |id: Option<i64>| id.and_then(|id| emails.get(&id).cloned().flatten());
    let listed = items
        .into_iter()
        .map(|event| ListedEvent {
            actor_email: email_of(event.actor_user_id),
            target_email: email_of(user_target(&event)),
            event,
        })
        .collect();
    Ok((listed, total))
}
