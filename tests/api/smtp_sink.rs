//! An SMTP server for the tests, on 127.0.0.1 over real TCP: it takes every mail it is
//! sent and hands it to the test parsed. Told it is down, it answers as a server that is
//! down would (421, then it hangs up), so the mailer's retries can be watched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};

/// A mail as the sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The message as it came over the wire.
    pub raw: String,
}

impl ReceivedMail {
    /// The link in the plain-text part whose path is `path`, whole (up to the end of
    /// its line), as a person would copy it.
    pub fn link(&self, path: &str) -> String {
        self.text
            .split_whitespace()
            .find(|word| word.starts_with("http") && word.contains(&format!("{path}?token=")))
            .unwrap_or_else(|| panic!("no {path} link in the mail:\n{}", self.text))
            .to_owned()
    }

    /// The `token` of that link.
    pub fn token(&self, path: &str) -> String {
        let link = self.link(path);
        let url = url::Url::parse(&link).expect("the link is a URL");
        url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).expect("a token")
    }
}

pub struct SmtpSink {
    pub port: u16,
    down: Arc<AtomicBool>,
    mails: Mutex<mpsc::UnboundedReceiver<ReceivedMail>>,
    refused: Mutex<mpsc::UnboundedReceiver<()>>,
}

/// What a session tells the sink: a mail came, or a client was turned away.
#[derive(Clone)]
struct Report {
    mails: mpsc::UnboundedSender<ReceivedMail>,
    refused: mpsc::UnboundedSender<()>,
}

/// Long enough for the mailer's first retries (1 s, 2 s, 4 s) under a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
        let port = listener.local_addr().expect("address").port();
        let down = Arc::new(AtomicBool::new(false));
        let (sent, mails) = mpsc::unbounded_channel();
        let (turned_away, refused) = mpsc::unbounded_channel();
        let report = Report { mails: sent, refused: turned_away };
        let serving = down.clone();
        actix_web::rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                actix_web::rt::spawn(session(stream, serving.clone(), report.clone()));
            }
        });
        SmtpSink { port, down, mails: Mutex::new(mails), refused: Mutex::new(refused) }
    }

    /// `PORTCULLIS_SMTP_URL` for this sink.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The next mail received, in the order the server sent them; fails the test when none
    /// comes within a minute.
    pub async fn next(&self) -> ReceivedMail {
        let mut mails = self.mails.lock().await;
        tokio::time::timeout(WAIT, mails.recv())
            .await
            .expect("a mail arrives within a minute")
            .expect("the sink is running")
    }

    /// Waits until the sink, while down, has turned `count` more clients away.
    pub async fn refusals(&self, count: usize) {
        let mut refused = self.refused.lock().await;
        for _ in 0..count {
            tokio::time::timeout(WAIT, refused.recv())
                .await
                .expect("the mailer tries again")
                .expect("running");
        }
    }

    /// The next mail, which must be to `to`.
    pub async fn next_to(&self, to: &str) -> ReceivedMail {
        let mail = self.next().await;
        assert_eq!(mail.to, vec![to.to_owned()], "mail went to the wrong address: {}", mail.subject);
        mail
    }
}

async fn session(stream: TcpStream, down: Arc<AtomicBool>, report: Report) {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader);
    let refuse = "421 sink is down\r\n";
    if down.load(Ordering::SeqCst) {
        let _ = writer.write_all(refuse.as_bytes()).await;
        let _ = report.refused.send(());
        return;
    }
    let _ = writer.write_all(b"220 sink ESMTP\r\n").await;
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if down.load(Ordering::SeqCst) {
            let _ = writer.write_all(refuse.as_bytes()).await;
            let _ = report.refused.send(());
            return;
        }
        let command = line.trim_end().to_owned();
        let verb = command.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        let reply: &str = match verb.as_str() {
            "EHLO" => "250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" | "MAIL" | "NOOP" => "250 ok\r\n",
            "RSET" => {
                recipients.clear();
                "250 ok\r\n"
            }
            "RCPT" => {
                let address = command.split_once(':').map(|(_, a)| a).unwrap_or("");
                recipients
                    .push(address.trim().trim_start_matches('<').split('>').next().unwrap_or("").to_owned());
                "250 ok\r\n"
            }
            "DATA" => {
                let _ = writer.write_all(b"354 end with .\r\n").await;
                let mut raw = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
                    raw.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
                }
                let _ = report.mails.send(parse(std::mem::take(&mut recipients), raw));
                "250 queued\r\n"
            }
            "QUIT" => {
                let _ = writer.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => "500 unknown command\r\n",
        };
        if writer.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn parse(to: Vec<String>, raw: String) -> ReceivedMail {
    let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("a MIME message");
    ReceivedMail {
        to,
        subject: message.subject().unwrap_or_default().to_owned(),
        text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: message.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        raw,
    }
}
