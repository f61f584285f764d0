//! `portcullis keys reseal`: what is sealed under the operator's secret (the private
//! signing keys, the provider refresh tokens) is opened with the old secret and sealed
//! again under the new one, in one transaction, so a failure leaves everything as it was.

use secrecy::SecretString;

use super::audit;
use super::error::CliError;
use crate::config::Settings;
use crate::db::{write_transaction, Writer};
use crate::error::ApiError;
use crate::store::secrets;
use crate::tokens::resealing::{self, MoveError};

/// The variable that names the secret being replaced.
const OLD_SECRET: &str = "PORTCULLIS_OLD_SECRET_KEY";

pub fn reseal(conn: &mut Writer<'_>, settings: &Settings) -> Result<(), CliError> {
    let new = settings
        .secret_key
        .clone()
        .ok_or_else(|| CliError::Reseal("set PORTCULLIS_SECRET_KEY to the new secret".into()))?;
    let old = match std::env::var(OLD_SECRET).ok().filter(|s| !s.is_empty()) {
        Some(old) => Some(SecretString::from(old)),
        // A deployment without a secret of its own sealed under the generated one.
        None => secrets::get(conn, "secret_key")?.map(SecretString::from),
    };
    let moved = write_transaction(conn, |conn| {
        let moved = resealing::everything(conn, old.as_ref(), &new).map_err(|e| match e {
            MoveError::Keys(e) => CliError::Sealed(e),
            MoveError::Database(e) => CliError::from(e),
        })?;
        if moved.unopened > 0 {
            return Err(CliError::Reseal(format!(
                "{} provider refresh tokens do not open with the old secret; set {OLD_SECRET}",
                moved.unopened
            )));
        }
        audit::record(conn, "signing_key.reseal", "signing_key", "", &format!("{} keys", moved.keys))
            .map_err(|e| CliError::Refused(ApiError::from(e)))?;
        Ok::<_, CliError>(moved)
    })?;
    println!(
        "sealed {} signing keys and {} provider refresh tokens under the new secret; \
         restart every server with it",
        moved.keys, moved.provider_tokens
    );
    Ok(())
}
