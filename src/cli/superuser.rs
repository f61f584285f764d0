//! `createsuperuser`: asks again on a terminal until the answers are acceptable; with
//! `--password-stdin` or piped input, refuses at once with the reason.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;

use super::audit;
use super::error::CliError;
use crate::db::Writer;
use crate::domain::{Email, NewPassword, PasswordRules};
use crate::manage;
use crate::store::users::User;

#[derive(Args)]
pub struct SuperuserArgs {
    #[arg(long)]
    email: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[arg(long)]
    username: Option<String>,
}

pub fn createsuperuser(conn: &mut Writer<'_>, args: SuperuserArgs) -> Result<(), CliError> {
    // A script must not loop: only a person at a terminal is asked again.
    let interactive = !args.password_stdin && std::io::stdin().is_terminal();
    let email = match args.email {
        Some(raw) => parse_email(&raw)?,
        None if interactive => ask_email(conn)?,
        None => parse_email(&prompt("Email")?)?,
    };
    let username = match args.username {
        Some(u) => Some(u),
        None if interactive => ask_username(conn)?,
        None => None,
    };
    let rules = PasswordRules { email: Some(email.as_str()), username: username.as_deref() };
    let password = if interactive {
        ask_password(&rules)?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        NewPassword::parse(line.trim_end_matches(['\r', '\n']), &rules)
            .map_err(|problems| refused(problems.join(" ")))?
    };
    let user = manage::create_superuser(conn, &email, &password, username.as_deref(), |conn, user| {
        audit::record(conn, "user.create_superuser", "user", &user.id.to_string(), &user.username)
    })
    .map_err(CliError::Refused)?;
    println!("superuser {} created (id {})", user.username, user.id);
    Ok(())
}

fn refused(reason: impl Into<String>) -> CliError {
    CliError::Refused(crate::error::ApiError::invalid_request(reason))
}

fn parse_email(raw: &str) -> Result<Email, CliError> {
    Email::parse(raw).map_err(|e| refused(e.to_string()))
}

/// Reads one answer from standard input; its end is an error, not an empty answer
/// (which would be asked again for ever).
fn prompt(label: &str) -> Result<String, CliError> {
    eprint!("{label}: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(CliError::InputEnded);
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn ask_email(conn: &mut Writer<'_>) -> Result<Email, CliError> {
    loop {
        match Email::parse(&prompt("Email")?) {
            Err(invalid) => eprintln!("{invalid}"),
            Ok(email) if User::find_by_email(conn, email.as_str())?.is_some() => {
                eprintln!("A user with that email already exists.")
            }
            Ok(email) => return Ok(email),
        }
    }
}

fn ask_username(conn: &mut Writer<'_>) -> Result<Option<String>, CliError> {
    loop {
        let username = prompt("Username (empty to derive from the email)")?;
        let username = username.trim();
        if username.is_empty() {
            return Ok(None);
        }
        if !User::username_taken(conn, username)? {
            return Ok(Some(username.to_owned()));
        }
        eprintln!("A user with that username already exists.");
    }
}

fn ask_password(rules: &PasswordRules<'_>) -> Result<NewPassword, CliError> {
    loop {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password (again): ")?;
        if first != again {
            eprintln!("The passwords differ.");
            continue;
        }
        match NewPassword::parse(&first, rules) {
            Ok(password) => return Ok(password),
            Err(problems) => eprintln!("{}", problems.join(" ")),
        }
    }
}
