//! `portcullis keys reseal`: what is sealed under the operator's secret (the private
//! signing keys, the provider refresh tokens) is opened with the old secret and sealed
//! again under the new one, in one transaction, so a failure leaves everything as it was.

use secrecy::SecretString;

use super::audit;
use super::error::CliError;
use crate::config::Settings;
use crate::db::Writer;
use crate::error::ApiError;
use crate::store::secrets;
use crate::store::social::SocialAccount;
use crate::tokens::{keys, sealed};

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
    let (keys_done, links_done) = conn.transaction(|conn| {
        let keys_done = keys::reseal(conn, old.as_ref(), Some(&new)).map_err(CliError::Sealed)?;
        let mut links_done = 0;
        for (id, provider, uid, token) in SocialAccount::with_refresh_tokens(conn)? {
            let context = sealed::link_context(&provider, &uid);
            let plain =
                old.as_ref().and_then(|old| sealed::open(old, &context, &token)).ok_or_else(|| {
                    CliError::Reseal(format!(
                        "a provider refresh token does not open with the old secret; set {OLD_SECRET}"
                    ))
                })?;
            SocialAccount::set_refresh_token(conn, id, &sealed::seal(&new, &context, &plain))?;
            links_done += 1;
        }
        audit::record(conn, "signing_key.reseal", "signing_key", "", &format!("{keys_done} keys"))
            .map_err(|e| CliError::Refused(ApiError::from(e)))?;
        Ok::<_, CliError>((keys_done, links_done))
    })?;
    println!(
        "sealed {keys_done} signing keys and {links_done} provider refresh tokens under the new secret; \
         restart every server with it"
    );
    Ok(())
}
