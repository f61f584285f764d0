//! Outgoing mail. A request that causes a mail queues it and answers at once; one task per
//! server delivers the queue in order, retrying a failed delivery with backoff. So a slow
//! or dead SMTP server never holds a request: the request's token is already stored, and
//! the mail goes out when the server answers again, or is counted as lost in `/metrics`.
//! Without `PORTCULLIS_SMTP_URL` the mail is written to the log (development).

pub mod messages;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::MailSettings;
use crate::metrics::Metrics;
use transport::Transport;

pub use messages::Mail;

/// Mails waiting for delivery, per server; past it a new mail is dropped (and counted)
/// rather than let an SMTP outage grow memory without end.
const BACKLOG: usize = 10_000;

/// A failed delivery is tried this many times in all, waiting 1 s, 2 s, 4 s ... (at most
/// `MAX_DELAY`) between tries: six minutes of waiting (nine if every try also waits out its
/// timeout), enough to ride out an SMTP server's restart; a user still waiting after that
/// asks again. A permanent refusal (5xx) is not retried.
const ATTEMPTS: u32 = 12;
const MAX_DELAY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
#[error("PORTCULLIS_SMTP_URL: {0}")]
pub struct MailError(String);

/// The queue's sending end; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Mail>,
    /// Mails queued and not yet delivered or given up, so a stopping server can wait for them.
    waiting: Arc<watch::Sender<usize>>,
    metrics: Arc<Metrics>,
}

impl Mailer {
    /// Starts the delivery task on the current runtime.
    pub fn start(settings: &MailSettings, metrics: Arc<Metrics>) -> Result<Self, MailError> {
        let transport = Transport::new(settings)?;
        let (queue, pending) = mpsc::channel(BACKLOG);
        let waiting = Arc::new(watch::Sender::new(0));
        actix_web::rt::spawn(deliver(pending, transport, waiting.clone(), metrics.clone()));
        Ok(Self { queue, waiting, metrics })
    }

    /// Queues `mail`; never waits.
    pub fn send(&self, mail: Mail) {
        let kind = mail.kind;
        // Counted before it is queued: the delivery task may finish it first.
        self.waiting.send_modify(|n| *n += 1);
        match self.queue.try_send(mail) {
            Ok(()) => self.metrics.mail_queued(1),
            Err(_) => {
                self.waiting.send_modify(|n| *n -= 1);
                tracing::error!(kind, "mail queue full, mail dropped");
                self.metrics.mail_dropped(kind, "queue_full");
            }
        }
    }

    /// Waits until every queued mail is delivered or given up, at most `within`; how many
    /// are still waiting then. A stopping server calls it, so a mail queued just before a
    /// restart (a rolling upgrade) still goes out, retries included while time allows.
    pub async fn drained(&self, within: Duration) -> usize {
        let mut waiting = self.waiting.subscribe();
        let _ = actix_web::rt::time::timeout(within, waiting.wait_for(|n| *n == 0)).await;
        let left = *waiting.borrow();
        left
    }
}

async fn deliver(
    mut pending: mpsc::Receiver<Mail>,
    transport: Transport,
    waiting: Arc<watch::Sender<usize>>,
    metrics: Arc<Metrics>,
) {
    while let Some(mail) = pending.recv().await {
        let kind = mail.kind;
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            match transport.send(&mail).await {
                Ok(()) => {
                    metrics.mail_sent(kind);
                    break;
                }
                Err(failure) => {
                    metrics.mail_failed(kind);
                    if failure.permanent || attempt == ATTEMPTS {
                        tracing::error!(kind, attempt, error = %failure.reason, "mail not delivered, given up");
                        metrics.mail_dropped(kind, "undeliverable");
                        break;
                    }
                    tracing::warn!(kind, attempt, error = %failure.reason, "mail not delivered, will retry");
                    actix_web::rt::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_DELAY);
                }
            }
        }
        metrics.mail_queued(-1);
        waiting.send_modify(|n| *n -= 1);
    }
}
