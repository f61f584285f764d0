//! Prometheus metrics: requests and latencies per endpoint and status, tokens per grant.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::GrantType;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    tokens: IntCounterVec,
    mail_sent: IntCounterVec,
    mail_failures: IntCounterVec,
    mail_dropped: IntCounterVec,
    mail_queued: IntGauge,
    janitor_deleted: IntCounterVec,
    janitor_last_run: IntGauge,
    table_rows: IntGaugeVec,
    reuse_detected: prometheus::IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("portcullis_http_requests_total", "HTTP requests by endpoint, method and status"),
            &["endpoint", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_http_request_duration_seconds",
                "HTTP request latency by endpoint",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["endpoint", "method"],
        )
        .expect("valid metric");
        let tokens = IntCounterVec::new(
            Opts::new("portcullis_tokens_issued_total", "Access tokens issued by grant type"),
            &["grant_type"],
        )
        .expect("valid metric");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let mail_sent =
            counter("portcullis_mail_sent_total", "Mails delivered to the SMTP server, by kind", &["kind"]);
        let mail_failures = counter(
            "portcullis_mail_failures_total",
            "Failed mail deliveries, each try counted (a retried mail may still go out)",
            &["kind"],
        );
        let mail_dropped = counter(
            "portcullis_mail_dropped_total",
            "Mails lost: refused for good or out of tries (undeliverable), or the queue was full",
            &["kind", "reason"],
        );
        let mail_queued =
            IntGauge::new("portcullis_mail_queued", "Mails waiting for delivery on this server")
                .expect("valid metric");
        let janitor_deleted = counter(
            "portcullis_janitor_deleted_rows_total",
            "Rows the janitor deleted, by table",
            &["table"],
        );
        let janitor_last_run = IntGauge::new(
            "portcullis_janitor_last_run_timestamp_seconds",
            "When this server's janitor last finished a run (Unix seconds)",
        )
        .expect("valid metric");
        let table_rows = IntGaugeVec::new(
            Opts::new(
                "portcullis_table_rows",
                "Rows per table as the database estimates them, after the janitor's run",
            ),
            &["table"],
        )
        .expect("valid metric");
        let reuse_detected = prometheus::IntCounter::new(
            "portcullis_refresh_reuse_detected_total",
            "Refresh tokens replayed after rotation (their families were revoked): theft, or a client bug",
        )
        .expect("valid metric");
        for metric in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(tokens.clone()),
            Box::new(mail_sent.clone()),
            Box::new(mail_failures.clone()),
            Box::new(mail_dropped.clone()),
            Box::new(mail_queued.clone()),
            Box::new(janitor_deleted.clone()),
            Box::new(janitor_last_run.clone()),
            Box::new(table_rows.clone()),
            Box::new(reuse_detected.clone()),
        ] {
            registry.register(metric).expect("metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            tokens,
            mail_sent,
            mail_failures,
            mail_dropped,
            mail_queued,
            janitor_deleted,
            janitor_last_run,
            table_rows,
            reuse_detected,
        }
    }

    pub fn observe_request(&self, endpoint: &str, method: &str, status: u16, seconds: f64) {
        self.requests.with_label_values(&[endpoint, method, &status.to_string()]).inc();
        self.latency.with_label_values(&[endpoint, method]).observe(seconds);
    }

    pub fn token_issued(&self, grant: GrantType) {
        self.tokens.with_label_values(&[grant.as_str()]).inc();
    }

    pub fn mail_sent(&self, kind: &str) {
        self.mail_sent.with_label_values(&[kind]).inc();
    }

    pub fn mail_failed(&self, kind: &str) {
        self.mail_failures.with_label_values(&[kind]).inc();
    }

    pub fn mail_dropped(&self, kind: &str, reason: &str) {
        self.mail_dropped.with_label_values(&[kind, reason]).inc();
    }

    pub fn mail_queued(&self, change: i64) {
        self.mail_queued.add(change);
    }

    pub fn janitor_deleted(&self, table: &str, rows: u64) {
        self.janitor_deleted.with_label_values(&[table]).inc_by(rows);
    }

    pub fn janitor_ran(&self, at: i64) {
        self.janitor_last_run.set(at);
    }

    pub fn table_rows(&self, table: &str, rows: i64) {
        self.table_rows.with_label_values(&[table]).set(rows);
    }

    pub fn refresh_reuse_detected(&self) {
        self.reuse_detected.inc();
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}
