//! The one check of a presented password against a user's stored hash, for every sign-in
//! (the password grant, the sign-in page, the console's sign-in) and the old password of a
//! change. The hash is our argon2id, or a Django hash kept by an import until the first
//! right password replaces it with ours, so nobody has to reset a password to move over.

use super::django_hashes::{self, Hasher};
use super::passwords::{self, Memory};
use crate::db::Writer;
use crate::error::ApiError;
use crate::store::users::User;

/// The verdict on a password, with the hash that replaces a Django one when it was right.
#[must_use]
pub enum Checked {
    Wrong,
    Right { upgrade: Option<Upgrade> },
}

/// An argon2id hash of a password that was just verified against a Django hash.
pub struct Upgrade {
    user_id: i64,
    replaces: String,
    hash: String,
}

impl Checked {
    pub fn is_right(&self) -> bool {
        matches!(self, Checked::Right { .. })
    }

    /// Stores the upgraded hash, unless the stored one changed since it was read (a
    /// password change or another sign-in's upgrade got there first).
    pub fn record(&self, conn: &mut Writer<'_>) -> Result<(), ApiError> {
        if let Checked::Right { upgrade: Some(upgrade) } = self {
            User::replace_password_hash(conn, upgrade.user_id, &upgrade.replaces, &upgrade.hash)?;
        }
        Ok(())
    }
}

/// Checks `password` against `user`'s hash. No user, no usable password: one argon2id
/// verification against a dummy, so the time taken does not tell who exists. Runs in a
/// `HashLimiter` turn, whose buffer serves argon2 hashes of either kind.
pub fn check(password: &str, user: Option<&User>, memory: &mut Memory) -> Result<Checked, ApiError> {
    let stored = user.and_then(|u| u.password_hash.as_deref());
    let legacy = stored.and_then(|hash| django_hashes::identify(hash).map(|hasher| (hash, hasher)));
    let (user, hash) = match (user, legacy) {
        (Some(user), Some((hash, hasher))) if hasher != Hasher::Unusable => (user, hash),
        (_, Some(_)) => {
            passwords::verify(password, None, memory);
            return Ok(Checked::Wrong);
        }
        (_, None) => {
            let right = passwords::verify(password, stored, memory);
            return Ok(if right { Checked::Right { upgrade: None } } else { Checked::Wrong });
        }
    };
    match django_hashes::verify(hash, password, memory) {
        Ok(true) => {
            let upgraded = passwords::hash_with(password, memory)?;
            Ok(Checked::Right {
                upgrade: Some(Upgrade { user_id: user.id, replaces: hash.to_owned(), hash: upgraded }),
            })
        }
        Ok(false) => Ok(Checked::Wrong),
        Err(error) => {
            // The user cannot sign in with a password until an operator looks: say why.
            tracing::warn!(user_id = user.id, %error, "a stored Django password hash was not checked");
            Ok(Checked::Wrong)
        }
    }
}
