//! Where a mail goes: an SMTP server, or the log when none is configured.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::{Mail, MailError};
use crate::config::MailSettings;

/// One SMTP exchange may take this long before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

pub enum Transport {
    Smtp { smtp: Box<AsyncSmtpTransport<Tokio1Executor>>, from: Mailbox },
    Log,
}

pub struct Failure {
    pub reason: String,
    /// The server refused for good (a 5xx): trying again would not help.
    pub permanent: bool,
}

impl Failure {
    fn permanent(reason: impl ToString) -> Self {
        Self { reason: reason.to_string(), permanent: true }
    }
}

impl Transport {
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let Some(url) = &settings.smtp_url else { return Ok(Self::Log) };
        let url = lettre_url(url.expose_secret())?;
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| MailError(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self::Smtp { smtp: Box::new(smtp), from: settings.from.clone() })
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), Failure> {
        match self {
            // Development only: the link is in the log so that the flows can be followed.
            Self::Log => {
                tracing::info!(kind = mail.kind, to = %mail.to, subject = %mail.subject, body = %mail.text,
                    "mail (no PORTCULLIS_SMTP_URL: written here instead of sent)");
                Ok(())
            }
            Self::Smtp { smtp, from } => {
                let to: Mailbox = mail.to.parse().map_err(Failure::permanent)?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&mail.subject)
                    .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
                    .map_err(Failure::permanent)?;
                smtp.send(message)
                    .await
                    .map_err(|e| Failure { permanent: e.is_permanent(), reason: e.to_string() })?;
                tracing::info!(kind = mail.kind, to = %mail.to, "mail sent");
                Ok(())
            }
        }
    }
}

/// SPEC §12 writes STARTTLS as `?tls=starttls`; lettre calls it `tls=required`.
fn lettre_url(raw: &str) -> Result<String, MailError> {
    let mut url = url::Url::parse(raw).map_err(|e| MailError(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(MailError("expected smtp:// or smtps://".into()));
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "tls" && v == "starttls" { "required".into() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.is_empty() {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::lettre_url;

    #[test]
    fn starttls_is_lettres_required() {
        assert_eq!(
            lettre_url("smtp://u:p@mail.example:587?tls=starttls").unwrap(),
            "smtp://u:p@mail.example:587?tls=required"
        );
        assert_eq!(lettre_url("smtps://mail.example:465").unwrap(), "smtps://mail.example:465");
        assert!(lettre_url("http://mail.example").is_err());
    }
}
