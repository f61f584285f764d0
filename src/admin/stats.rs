//! `GET /admin/api/stats`: the console's dashboard. Not in SPEC; read-only counts.

use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::Serialize;

use super::staff::Staff;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::browser::live_sessions;
use crate::store::schema::{applications, audit_events, refresh_tokens, users};

const DAYS: i64 = 14;
const DAY: i64 = 86_400;

#[derive(Serialize)]
struct Day {
    /// Unix seconds at the start of the day (UTC).
    day: i64,
    sign_ins: i64,
}

#[derive(Serialize)]
struct Stats {
    users: i64,
    active_users: i64,
    applications: i64,
    /// Sign-ins that can still be refreshed, plus signed-in browsers.
    active_sessions: i64,
    sign_ins_per_day: Vec<Day>,
}

pub async fn show(_staff: Staff, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let stats = crate::db::run(&state.pool, |conn| {
        let now = crate::time::now();
        let users_total = users::table.count().get_result(conn)?;
        let active_users = users::table.filter(users::is_active.eq(true)).count().get_result(conn)?;
        let applications = applications::table.count().get_result(conn)?;
        let families: i64 = refresh_tokens::table
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now))
            .count()
            .get_result(conn)?;
        let today = now - now.rem_euclid(DAY);
        let since = today - (DAYS - 1) * DAY;
        let times: Vec<i64> = audit_events::table
            .filter(audit_events::action.eq_any(["login.password", "login.browser", "login.social"]))
            .filter(audit_events::created_at.ge(since))
            .select(audit_events::created_at)
            .load(conn)?;
        let mut per_day: Vec<Day> = (0..DAYS).map(|i| Day { day: since + i * DAY, sign_ins: 0 }).collect();
        for at in times {
            let index = ((at - since) / DAY) as usize;
            if let Some(day) = per_day.get_mut(index) {
                day.sign_ins += 1;
            }
        }
        Ok(Stats {
            users: users_total,
            active_users,
            applications,
            active_sessions: families + live_sessions(conn, now)?,
            sign_ins_per_day: per_day,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(stats))
}
