//! Django's password hashes, verified natively and only within bounded parameters.
//!
//! Users imported from a Django deployment keep the hash Django wrote until they next sign in.
//! Each hasher's file says what Django writes and which parameters it refuses to run: a stored
//! hash names its own cost, and a hash with an absurd one (10^9 pbkdf2 rounds, gigabytes of
//! argon2 memory) would turn one sign-in attempt into minutes of CPU or an exhausted server.
//! Callers run `verify` under `HashLimiter` like our own argon2id, lending it the buffer.

mod argon2;
mod bcrypt;
mod fields;
mod pbkdf2;
mod scrypt;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::auth::passwords::Memory;

/// The Django hashers verified here, named by the prefix Django writes before the first `$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hasher {
    Pbkdf2Sha256,
    Pbkdf2Sha1,
    Argon2,
    BcryptSha256,
    Bcrypt,
    Scrypt,
    /// `!` and 40 random characters (`set_unusable_password`), or an empty field (a user
    /// created without a password): no password matches.
    Unusable,
}

impl Hasher {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pbkdf2Sha256 => "pbkdf2_sha256",
            Self::Pbkdf2Sha1 => "pbkdf2_sha1",
            Self::Argon2 => "argon2",
            Self::BcryptSha256 => "bcrypt_sha256",
            Self::Bcrypt => "bcrypt",
            Self::Scrypt => "scrypt",
            Self::Unusable => "unusable",
        }
    }
}

impl fmt::Display for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a stored hash was not checked. Distinct from a wrong password (`Ok(false)`) so the
/// caller can log it; the message names parameters, never the salt or the hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyHashError {
    /// Not one of Django's hashers above (ours start with `$`; Django's `md5`, `sha1` and
    /// `crypt` hashers are not supported).
    #[error("not a Django password hash this server verifies")]
    Unsupported,
    #[error("malformed {hasher} hash: {reason}")]
    Malformed { hasher: Hasher, reason: &'static str },
    #[error("{hasher} hash refused: {parameter} {value} is over the limit of {limit}")]
    OverLimit { hasher: Hasher, parameter: &'static str, value: u64, limit: u64 },
}

impl LegacyHashError {
    fn malformed(hasher: Hasher, reason: &'static str) -> Self {
        Self::Malformed { hasher, reason }
    }
}

/// Refuses `value` above `limit` before anything is computed with it.
fn within(hasher: Hasher, parameter: &'static str, value: u64, limit: u64) -> Result<(), LegacyHashError> {
    if value > limit {
        return Err(LegacyHashError::OverLimit { hasher, parameter, value, limit });
    }
    Ok(())
}

/// Which Django hasher wrote `encoded`, from its prefix alone (nothing is checked yet);
/// `None` when it is not a Django hash verified here, such as our own `$argon2id$...`.
pub fn identify(encoded: &str) -> Option<Hasher> {
    if encoded.is_empty() || encoded.starts_with('!') {
        return Some(Hasher::Unusable);
    }
    let (prefix, _) = encoded.split_once('$')?;
    Some(match prefix {
        "pbkdf2_sha256" => Hasher::Pbkdf2Sha256,
        "pbkdf2_sha1" => Hasher::Pbkdf2Sha1,
        "argon2" => Hasher::Argon2,
        "bcrypt_sha256" => Hasher::BcryptSha256,
        "bcrypt" => Hasher::Bcrypt,
        "scrypt" => Hasher::Scrypt,
        _ => return None,
    })
}

/// Whether `password` is the one Django hashed into `encoded`, computed with the parameters
/// the hash names once they are within this module's limits. `memory` serves argon2 hashes.
pub fn verify(encoded: &str, password: &str, memory: &mut Memory) -> Result<bool, LegacyHashError> {
    let hasher = identify(encoded).ok_or(LegacyHashError::Unsupported)?;
    let rest = encoded.split_once('$').map_or("", |(_, rest)| rest);
    match hasher {
        Hasher::Unusable => Ok(false),
        Hasher::Pbkdf2Sha256 | Hasher::Pbkdf2Sha1 => pbkdf2::verify(hasher, rest, password),
        Hasher::Argon2 => argon2::verify(rest, password, memory),
        Hasher::BcryptSha256 | Hasher::Bcrypt => bcrypt::verify(hasher, rest, password),
        Hasher::Scrypt => scrypt::verify(rest, password),
    }
}
