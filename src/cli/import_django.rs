//! `import-django`: the command line's side of `crate::import` (arguments, output, audit).

use clap::Args;

use super::audit;
use super::error::CliError;
use crate::db::Writer;
use crate::import::{self, ImportOptions};

#[derive(Args)]
pub struct ImportDjangoArgs {
    /// The Django database: sqlite:///path/db.sqlite3 or postgres://...
    #[arg(long)]
    from: String,
    /// Django's user table (a custom AUTH_USER_MODEL's), with auth_user's columns.
    #[arg(long, default_value = "auth_user")]
    user_table: String,
    /// Read and check everything and report the counts, writing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn import_django(
    conn: &mut Writer<'_>,
    args: ImportDjangoArgs,
    refresh_token_ttl: i64,
) -> Result<(), CliError> {
    let options = ImportOptions {
        from: &args.from,
        user_table: &args.user_table,
        dry_run: args.dry_run,
        refresh_token_ttl,
    };
    let report = import::run(conn, &options)?;
    if !args.dry_run {
        let detail = format!(
            "users {}/{}, applications {}/{}, social links {}/{}, refresh tokens {}/{}, \
             access tokens {}/{} created/updated",
            report.users.created,
            report.users.updated,
            report.applications.created,
            report.applications.updated,
            report.social_links.created,
            report.social_links.updated,
            report.refresh_tokens.created,
            report.refresh_tokens.updated,
            report.access_tokens.created,
            report.access_tokens.updated
        );
        conn.transaction(|conn| audit::record(conn, "django.import", "import", "", &detail))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        if args.dry_run {
            println!("dry run: nothing was written");
        }
        print!("{report}");
    }
    Ok(())
}
