//! Moving what is sealed from one secret to another: the private signing keys and the
//! provider refresh tokens. `portcullis keys reseal` moves everything and refuses if
//! anything does not open; the first start with an operator's `PORTCULLIS_SECRET_KEY`
//! on a deployment that ran without one moves them from the generated secret, so that
//! setting a secret is one step.

use secrecy::SecretString;

use super::keys::{self, SealError};
use super::sealed;
use crate::db::Writer;
use crate::store::social::SocialAccount;

/// What a move rewrote, and the provider tokens that opened under neither secret.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moved {
    pub keys: usize,
    pub provider_tokens: usize,
    pub unopened: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("{0}")]
    Keys(#[from] SealError),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
}

/// Every key opened under `old` (or as it is, in clear) and sealed under `new`, and every
/// provider token under `old` sealed under `new`. Call it inside a transaction.
pub fn everything(
    conn: &mut Writer<'_>,
    old: Option<&SecretString>,
    new: &SecretString,
) -> Result<Moved, MoveError> {
    let keys = keys::reseal(conn, old, Some(new))?;
    Ok(Moved { keys, ..provider_tokens(conn, old, new)? })
}

/// The first start with an operator's secret: keys still in clear are sealed under it,
/// and, when there were any (the deployment ran on the generated secret until now),
/// provider tokens move from `generated` to it. Later starts find nothing in clear and
/// read no provider token. Call it inside a transaction.
pub fn first_sealing(
    conn: &mut Writer<'_>,
    generated: Option<&SecretString>,
    operator: &SecretString,
) -> Result<Moved, MoveError> {
    let keys = keys::seal_in_clear(conn, operator)?;
    if keys == 0 {
        return Ok(Moved::default());
    }
    Ok(Moved { keys, ..provider_tokens(conn, generated, operator)? })
}

/// Provider tokens already under `new` are left as they are, so a move can be repeated.
fn provider_tokens(
    conn: &mut Writer<'_>,
    old: Option<&SecretString>,
    new: &SecretString,
) -> Result<Moved, MoveError> {
    let mut moved = Moved::default();
    for (id, provider, uid, token) in SocialAccount::with_refresh_tokens(conn)? {
        let context = sealed::link_context(&provider, &uid);
        if sealed::open(new, &context, &token).is_some() {
            continue;
        }
        match old.and_then(|old| sealed::open(old, &context, &token)) {
            Some(plain) => {
                SocialAccount::set_refresh_token(conn, id, &sealed::seal(new, &context, &plain))?;
                moved.provider_tokens += 1;
            }
            None => moved.unopened += 1,
        }
    }
    Ok(moved)
}
