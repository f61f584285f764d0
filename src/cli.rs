//! The command line (SPEC §9): serve, migrate, createsuperuser, app, keys, import-django. Every change
//! it makes is audited (`cli::audit`).

mod audit;
mod configuration;
mod error;
mod import_django;
mod reseal;
mod superuser;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use self::import_django::ImportDjangoArgs;
use self::superuser::SuperuserArgs;
use crate::auth::client_cache::change_applications;
use crate::config::{DatabaseUrl, Settings};
use crate::db::{self, Writer};
use crate::domain::{ClientType, GrantType, IdTokenAlg};
use crate::error::ApiError;
use crate::manage::{self, ApplicationSpec};
use crate::store::applications::Application;
use crate::tokens::keys;

pub use self::error::CliError;

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
    /// Bring users, applications and social links over from a drf-social-oauth2 database.
    ImportDjango(ImportDjangoArgs),
    /// Copy an SQLite database, online, to a new file (PostgreSQL: use pg_dump).
    Backup {
        /// The file to write; it must not exist yet.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Delete expired and revoked rows once, as every server's janitor does on its own.
    Prune {
        /// Print the rows deleted per table as one JSON object.
        #[arg(long)]
        json: bool,
    },
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
        /// Where RP-initiated logout (/auth/logout) may send the browser back to.
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// How the application's ID tokens are signed.
        #[arg(long, value_name = "RS256|EdDSA", default_value = "RS256")]
        id_token_signed_response_alg: String,
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
    /// Seal the private keys and provider refresh tokens under a new PORTCULLIS_SECRET_KEY,
    /// opening them with PORTCULLIS_OLD_SECRET_KEY (default: the secret generated into the
    /// database, for a deployment that had none).
    Reseal,
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
        Command::Createsuperuser(args) => superuser::createsuperuser(&mut conn, args),
        Command::ImportDjango(args) => {
            import_django::import_django(&mut conn, args, settings.refresh_token_ttl)
        }
        Command::App(app) => app_command(&mut conn, &settings.database_url, app),
        Command::Backup { to } => {
            if !crate::store::backup::can_copy(&conn) {
                return Err(CliError::Backup(
                    "this database is PostgreSQL: back it up with pg_dump (docs/OPERATIONS.md)".into(),
                ));
            }
            if to.exists() {
                return Err(CliError::Backup(format!("{} exists already; name a new file", to.display())));
            }
            let path = to.to_str().ok_or_else(|| CliError::Backup("the path is not UTF-8".into()))?;
            crate::store::backup::copy_to(&mut conn, path)?;
            println!("copied the database to {}", to.display());
            Ok(())
        }
        Command::Prune { json } => {
            let report = crate::janitor::run_offline(&mut conn, settings).map_err(CliError::Prune)?;
            if json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                for (table, rows) in report.tables() {
                    println!("{table:<22} {rows:>10} deleted");
                }
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Reseal) => reseal::reseal(&mut conn, settings),
        Command::Keys(KeysCommand::Rotate) => {
            keys::check_sealing(&mut conn, settings.secret_key.as_ref()).map_err(CliError::Sealed)?;
            let kids = conn
                .transaction(|conn| {
                    // Published a minute longer than the tokens live: a server signs with an
                    // old key until its next reload, within a minute.
                    let publish_for = settings.access_token_ttl + 65;
                    let kids = keys::rotate(conn, publish_for, settings.secret_key.as_ref())?;
                    for kid in &kids {
                        audit::record(conn, "signing_key.rotate", "signing_key", kid, "")?;
                    }
                    Ok(kids)
                })
                .map_err(CliError::Keys)?;
            println!(
                "new signing keys {} (Ed25519) and {} (RSA); running servers pick them up within a minute",
                kids[0], kids[1]
            );
            Ok(())
        }
    }
}

fn app_command(conn: &mut Writer<'_>, url: &DatabaseUrl, command: AppCommand) -> Result<(), CliError> {
    match command {
        AppCommand::Create {
            name,
            client_type,
            grant_types,
            redirect_uris,
            skip_authorization,
            post_logout_redirect_uris,
            id_token_signed_response_alg,
            json,
        } => {
            let spec = ApplicationSpec {
                name,
                client_type: ClientType::parse(&client_type)?,
                grant_types: GrantType::parse_list(&grant_types)?,
                redirect_uris,
                skip_authorization,
                owner_id: None,
                post_logout_redirect_uris,
                id_token_signed_response_alg: IdTokenAlg::parse(&id_token_signed_response_alg)?,
            };
            let created = conn
                .transaction(|conn| {
                    let created = manage::create_application(conn, &spec)?;
                    audit::record(conn, "application.create", "application", &created.client_id, &spec.name)?;
                    Ok(created)
                })
                .map_err(CliError::Refused)?;
            if json {
                // The application as `app list --json` shows it, and this once its secret.
                let mut shown = application_json(&created.application);
                if let Some(secret) = &created.client_secret {
                    shown["client_secret"] = secret.expose().into();
                }
                println!("{shown}");
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
                let items: Vec<_> = apps.iter().map(application_json).collect();
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
            let rotated = change_applications(url, conn, |conn| {
                let secret = manage::rotate_secret(conn, &client_id)?;
                audit::record(conn, "application.rotate_secret", "application", &client_id, "")?;
                Ok(secret)
            });
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

/// An application as `app list --json` and `app create --json` print it (never its secret).
fn application_json(a: &Application) -> serde_json::Value {
    serde_json::json!({
        "client_id": a.client_id,
        "name": a.name,
        "client_type": a.client_type,
        "grant_types": a.grants(),
        "redirect_uris": a.redirect_uri_list(),
        "skip_authorization": a.skip_authorization,
        "post_logout_redirect_uris": a.post_logout_redirect_uri_list(),
        "id_token_signed_response_alg": a.id_token_signed_response_alg,
        "created_at": a.created_at,
    })
}
