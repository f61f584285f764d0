//! The mails, in plain text and HTML from one pair of templates (`src/mail/templates`):
//! a heading, a few lines, at most one link, and a note on what to do if it was not you.

use askama::Template;

/// A rendered mail, ready for the queue.
pub struct Mail {
    /// For logs and metrics: `password_reset`, `verification`, `address_change`,
    /// `address_changed`.
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Who the mail speaks for: the application the request came through, when one is known,
/// else the host of the public URL.
pub struct Sender<'a> {
    pub app_name: Option<&'a str>,
    pub public_url: &'a str,
}

impl Sender<'_> {
    fn name(&self) -> String {
        match self.app_name {
            Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => url::Url::parse(self.public_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| self.public_url.to_owned()),
        }
    }
}

struct Action {
    label: &'static str,
    url: String,
}

#[derive(Template)]
#[template(path = "letter.txt")]
struct Text<'a> {
    heading: &'a str,
    lines: &'a [String],
    action: &'a Option<Action>,
    note: &'a str,
}

#[derive(Template)]
#[template(path = "letter.html")]
struct Html<'a> {
    heading: &'a str,
    lines: &'a [String],
    action: &'a Option<Action>,
    note: &'a str,
}

fn letter(
    kind: &'static str,
    to: &str,
    subject: String,
    lines: Vec<String>,
    action: Option<Action>,
    note: &str,
) -> Mail {
    let heading = subject.as_str();
    let text = Text { heading, lines: &lines, action: &action, note };
    let html = Html { heading, lines: &lines, action: &action, note };
    Mail {
        kind,
        to: to.to_owned(),
        // Templates of our own with plain fields: rendering cannot fail.
        text: text.render().unwrap_or_default(),
        html: html.render().unwrap_or_default(),
        subject,
    }
}

/// `minutes` as a person reads it.
fn lifetime(seconds: i64) -> String {
    match seconds {
        s if s >= 7200 => format!("{} hours", s / 3600),
        s if s >= 3600 => "1 hour".to_owned(),
        s => format!("{} minutes", (s / 60).max(1)),
    }
}

pub fn password_reset(sender: &Sender<'_>, to: &str, link: String, valid_for: i64) -> Mail {
    let name = sender.name();
    letter(
        "password_reset",
        to,
        format!("Reset your {name} password"),
        vec![format!("Someone asked to reset the password of the {name} account for {to}.")],
        Some(Action { label: "Choose a new password", url: link }),
        &format!(
            "The link works once, for {}. If you did not ask for it, ignore this mail: your password stays as it is.",
            lifetime(valid_for)
        ),
    )
}

pub fn verification(sender: &Sender<'_>, to: &str, link: String, valid_for: i64) -> Mail {
    let name = sender.name();
    letter(
        "verification",
        to,
        format!("Confirm your email address for {name}"),
        vec![format!("Please confirm that {to} is your address for your {name} account.")],
        Some(Action { label: "Confirm my address", url: link }),
        &format!(
            "The link works once, for {}. If you did not create an account, ignore this mail.",
            lifetime(valid_for)
        ),
    )
}

pub fn address_change(sender: &Sender<'_>, to: &str, link: String, valid_for: i64) -> Mail {
    let name = sender.name();
    letter(
        "address_change",
        to,
        format!("Confirm your new email address for {name}"),
        vec![format!(
            "Someone asked to make {to} the address of a {name} account. It changes when you open the link."
        )],
        Some(Action { label: "Use this address", url: link }),
        &format!(
            "The link works once, for {}. If you did not ask for this, ignore this mail.",
            lifetime(valid_for)
        ),
    )
}

/// To the old address, once the change is made: no link, only the news.
pub fn address_changed(sender: &Sender<'_>, to: &str, new_email: &str) -> Mail {
    let name = sender.name();
    letter(
        "address_changed",
        to,
        format!("Your {name} email address was changed"),
        vec![format!(
            "The email address of your {name} account is now {new_email}; mail will no longer come here."
        )],
        None,
        "If you did not make this change, reset your password and contact the service's support at once.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_whole_on_its_own_line_and_escaped_in_html() {
        let sender = Sender { app_name: Some("Shop <&> co"), public_url: "https://auth.example" };
        let link = "https://auth.example/auth/password/reset/confirm?token=abc-_123".to_owned();
        let mail = password_reset(&sender, "a@b.example", link.clone(), 1800);
        assert!(mail.text.lines().any(|l| l == link), "{}", mail.text);
        assert!(mail.text.contains("30 minutes"));
        assert!(mail.subject.contains("Shop <&> co"));
        assert!(mail.html.contains("Shop &#60;&#38;&#62; co") || mail.html.contains("Shop &lt;&amp;&gt; co"));
        assert!(mail.html.contains(&format!("href=\"{link}\"")));
    }

    #[test]
    fn without_an_application_the_public_host_speaks() {
        let sender = Sender { app_name: None, public_url: "https://auth.example:8443" };
        let mail = address_changed(&sender, "old@b.example", "new@b.example");
        assert_eq!(mail.subject, "Your auth.example email address was changed");
        assert!(!mail.text.contains("http"));
    }
}
