//! The janitor (SPEC §14): what can expire, expires, and its rows go. Every server runs it
//! every `PORTCULLIS_JANITOR_INTERVAL` seconds, and `portcullis prune` runs it once. Each
//! batch is its own short write (`store::janitor`), so requests go on between batches, and
//! replicas running it at once share the rows instead of fighting over them.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::web;

use crate::config::Settings;
use crate::db::{self, Writer};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::janitor::{self as sweeps, Batch, Cutoffs, Sweep};

/// Rows per batch: big enough that a pass over a busy week's rows takes minutes, not
/// hours; small enough that a batch holds SQLite's writer for milliseconds.
const BATCH: i64 = 1000;

/// After each full batch the server's janitor rests this many times as long as the batch
/// took, so working through a backlog (the first run over a busy week's rows) takes at
/// most a fifth of the database's time from requests (docs/PERFORMANCE.md, "Growth").
const REST: u32 = 4;

/// The tables whose sizes `/metrics` reports after each run.
pub const MEASURED: [&str; 8] = [
    "access_tokens",
    "refresh_tokens",
    "authorization_codes",
    "browser_sessions",
    "email_tokens",
    "auth_attempts",
    "audit_events",
    "openid_sign_ins",
];

/// Rows deleted by one run, by table.
#[derive(Debug, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Report(BTreeMap<&'static str, u64>);

impl Report {
    fn add(&mut self, batch: &Batch) {
        for (table, rows) in &batch.deleted {
            *self.0.entry(table).or_default() += *rows as u64;
        }
    }

    pub fn tables(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(table, rows)| (*table, *rows))
    }
}

pub fn cutoffs(settings: &Settings, now: i64) -> Cutoffs {
    Cutoffs {
        now,
        attempts_before: crate::throttle::oldest_counted(&settings.throttle, now),
        audit_before: now - settings.audit_retention_days * 86_400,
    }
}

/// One run, each batch a write job of its own (on SQLite, other writes go between them).
pub async fn run(state: &AppState) -> Result<Report, ApiError> {
    let cutoffs = cutoffs(&state.settings, crate::time::now());
    let mut report = Report::default();
    for sweep in Sweep::ALL {
        loop {
            let started = std::time::Instant::now();
            let batch =
                state.writes.run(move |conn| Ok(sweeps::sweep(conn, sweep, &cutoffs, BATCH)?)).await?;
            report.add(&batch);
            if !batch.more {
                break;
            }
            actix_web::rt::time::sleep(started.elapsed() * REST).await;
        }
    }
    for (table, rows) in report.tables() {
        state.metrics.janitor_deleted(table, rows);
    }
    let estimates = db::run(&state.pool, |conn| {
        MEASURED
            .iter()
            .map(|table| Ok((*table, sweeps::row_estimate(conn, table)?)))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    for (table, rows) in estimates {
        state.metrics.table_rows(table, rows);
    }
    // Last, and the time it finished: the timestamp says the whole run, sizes included,
    // is done, however long a backlog took.
    state.metrics.janitor_ran(crate::time::now());
    Ok(report)
}

/// One run on a connection of its own, outside any server (`portcullis prune`; servers
/// may run beside it).
pub fn run_offline(conn: &mut Writer<'_>, settings: &Settings) -> Result<Report, ApiError> {
    let cutoffs = cutoffs(settings, crate::time::now());
    let mut report = Report::default();
    for sweep in Sweep::ALL {
        loop {
            let batch = sweeps::sweep(conn, sweep, &cutoffs, BATCH)?;
            report.add(&batch);
            if !batch.more {
                break;
            }
        }
    }
    Ok(report)
}

/// Runs the janitor every `PORTCULLIS_JANITOR_INTERVAL` seconds (none when it is 0). The
/// first run waits a random part of the interval, so replicas started together spread out.
pub fn spawn(state: web::Data<AppState>) {
    let interval = state.settings.janitor_interval_secs;
    if interval == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let first = rand::random::<u64>() % interval + 1;
        actix_web::rt::time::sleep(Duration::from_secs(first)).await;
        let mut ticker = actix_web::rt::time::interval(Duration::from_secs(interval));
        loop {
            ticker.tick().await;
            let started = std::time::Instant::now();
            match run(&state).await {
                Ok(report) => {
                    let total: u64 = report.tables().map(|(_, rows)| rows).sum();
                    let seconds = started.elapsed().as_secs_f64();
                    tracing::info!(deleted = total, seconds, "janitor ran");
                }
                Err(error) => tracing::warn!(%error, "janitor run failed"),
            }
        }
    });
}
