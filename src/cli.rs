//! The command line (SPEC §9): serve, migrate, createsuperuser, app, keys.

mod configuration;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::auth::client_cache::change_applications;
use crate::config::{DatabaseUrl, Settings};
use crate::db::{self, Writer};
use crate::domain::{ClientType, GrantType, UnknownClientType, UnknownGrantType};
use crate::error::ApiError;
use crate::manage::{self, ApplicationSpec};
use crate::startup::StartupError;
use crate::store::applications::Application;
use crate::tokens::keys;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An OAuth2 authorization server speaking the drf-social-oauth2 API"
)]
pub struct Cli {
    /// A TOML file with the same keys as the environment, lower case, without the prefix.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply migrations and serve HTTP (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a staff user (interactive without flags).
    Createsuperuser(SuperuserArgs),
    /// Manage client applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage the token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

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

#[derive(Subcommand)]
pub enum AppCommand {
    /// Register an application and print its client id and secret.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["confidential", "public"])]
        client_type: String,
        /// Comma-separated, e.g. password,refresh_token,convert_token.
        #[arg(long)]
        grant_types: String,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long)]
        skip_authorization: bool,
        #[arg(long)]
        json: bool,
    },
    /// List applications (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret; the old one stops working.
    RotateSecret { client_id: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Start signing with a new key; old keys stay published until their tokens expire.
    Rotate,
}

/// Why a command failed; `main` prints it ("portcullis: ...") and exits with 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] diesel::r2d2::Error),
    #[error("{0}")]
    Database(#[from] db::DbError),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error("serve is not an offline command")]
    NotOffline,
    #[error("{0}")]
    Terminal(#[from] std::io::Error),
    #[error("the passwords differ")]
    PasswordsDiffer,
    #[error("{0}")]
    ClientType(#[from] UnknownClientType),
    #[error("{0}")]
    GrantTypes(#[from] UnknownGrantType),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("no application with client_id {0}")]
    NoSuchApplication(String),
    /// The server's own checks refused the request: their description, as the API
    /// would give it.
    #[error("{}", refusal(.0))]
    Refused(#[source] ApiError),
    /// Rotating the signing keys failed.
    #[error("{0}")]
    Keys(#[source] ApiError),
    #[error("{0}")]
    Startup(#[from] StartupError),
}

/// An invalid request's own description; anything else as the error prints.
fn refusal(error: &ApiError) -> String {
    match error {
        ApiError::InvalidRequest(description) => description.clone(),
        other => other.to_string(),
    }
}

/// Parses the command line. Also returns the settings given as flags or in the
/// environment (by variable name) for `Settings::load`, which puts them over the file.
pub fn parse() -> (Cli, Vec<(&'static str, String)>) {
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, configuration::given(&matches))
}

/// The whole command line, settings included (`--help` shows them with their
/// variables and defaults).
pub fn command() -> clap::Command {
    configuration::with_settings(Cli::command())
}

/// Runs a command that needs only a database connection. Returns the text to print.
pub fn run_offline(command: Command, settings: &Settings) -> Result<(), CliError> {
    let mut conn = db::connect(&settings.database_url).map_err(CliError::Connect)?;
    db::migrate(&mut conn)?;
    // The command line writes beside the servers, through its own connection.
    let mut conn = Writer::offline(&mut conn);
    match command {
        Command::Serve => Err(CliError::NotOffline),
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::Createsuperuser(args) => createsuperuser(&mut conn, args),
        Command::App(app) => app_command(&mut conn, &settings.database_url, app),
        Command::Keys(KeysCommand::Rotate) => {
            let kid = keys::rotate(&mut conn, settings.access_token_ttl).map_err(CliError::Keys)?;
            println!("new signing key {kid}; running servers pick it up within a minute");
            Ok(())
        }
    }
}

fn prompt(label: &str) -> Result<String, CliError> {
    eprint!("{label}: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn createsuperuser(conn: &mut Writer<'_>, args: SuperuserArgs) -> Result<(), CliError> {
    let email = match args.email {
        Some(email) => email,
        None => prompt("Email")?,
    };
    let username = match args.username {
        Some(u) => Some(u),
        None if !args.password_stdin && std::io::stdin().is_terminal() => {
            Some(prompt("Username (empty to derive from the email)")?).filter(|u| !u.is_empty())
        }
        None => None,
    };
    let password = if args.password_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password (again): ")?;
        if first != again {
            return Err(CliError::PasswordsDiffer);
        }
        first
    };
    let user =
        manage::create_superuser(conn, &email, &password, username.as_deref()).map_err(CliError::Refused)?;
    println!("superuser {} created (id {})", user.username, user.id);
    Ok(())
}

fn app_command(conn: &mut Writer<'_>, url: &DatabaseUrl, command: AppCommand) -> Result<(), CliError> {
    match command {
        AppCommand::Create { name, client_type, grant_types, redirect_uris, skip_authorization, json } => {
            let spec = ApplicationSpec {
                name,
                client_type: ClientType::parse(&client_type)?,
                grant_types: GrantType::parse_list(&grant_types)?,
                redirect_uris,
                skip_authorization,
                owner_id: None,
            };
            let created = manage::create_application(conn, &spec).map_err(CliError::Refused)?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!("client_id: {}", created.client_id);
                if let Some(secret) = &created.client_secret {
                    println!("client_secret: {}", secret.expose());
                    println!("Store the secret now: it is not shown again.");
                }
            }
            Ok(())
        }
        AppCommand::List { json } => {
            let apps = Application::list(conn)?;
            if json {
                let items: Vec<_> = apps
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "client_id": a.client_id,
                            "name": a.name,
                            "client_type": a.client_type,
                            "grant_types": a.grants(),
                            "redirect_uris": a.redirect_uri_list(),
                            "skip_authorization": a.skip_authorization,
                            "created_at": a.created_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(items));
            } else {
                for a in &apps {
                    println!(
                        "{}\t{}\t{}\t{}",
                        a.client_id,
                        a.client_type,
                        a.grant_types.replace(' ', ","),
                        a.name
                    );
                }
            }
            Ok(())
        }
        AppCommand::RotateSecret { client_id } => {
            // Returns once every running server has forgotten the old secret.
            let rotated = change_applications(url, conn, |conn| manage::rotate_secret(conn, &client_id));
            let (secret, unconfirmed) = rotated.map_err(|e| match e {
                ApiError::NotFound => CliError::NoSuchApplication(client_id.clone()),
                other => CliError::Refused(other),
            })?;
            if unconfirmed > 0 {
                eprintln!(
                    "warning: {unconfirmed} running server(s) did not confirm the change within 5 s; they have \
                     stopped answering from their cache, but check that they are healthy"
                );
            }
            println!("client_secret: {}", secret.expose());
            Ok(())
        }
    }
}
