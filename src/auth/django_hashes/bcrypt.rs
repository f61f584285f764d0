//! `bcrypt_sha256$$2b$12$<salt><hash>` (bcrypt over the hex SHA-256 of the password, so all
//! of it counts) and `bcrypt$$2b$12$...` (bcrypt over the password itself, which reads only
//! its first 72 bytes): after the hasher's name and its `$`, bcrypt's own string, which starts
//! with `$` too.

use sha2::{Digest, Sha256};

use super::fields::decimal;
use super::{within, Hasher, LegacyHashError};

/// Django's default is 12 (a third of a second on one core here); each step doubles the
/// work, so 16 is about 6 s, where the 31 bcrypt allows would take days.
const MAX_COST: u64 = 16;
/// bcrypt's own minimum.
const MIN_COST: u64 = 4;

pub fn verify(hasher: Hasher, bcrypt_string: &str, password: &str) -> Result<bool, LegacyHashError> {
    let malformed = |reason| LegacyHashError::malformed(hasher, reason);
    let mut parts = bcrypt_string.splitn(4, '$');
    let (Some(""), Some(version), Some(cost), Some(salt_and_hash)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected $<version>$<cost>$<salt and hash>"));
    };
    // `2x` marks hashes of a buggy implementation, computed differently.
    if !matches!(version, "2a" | "2b" | "2y") {
        return Err(malformed("unknown bcrypt version"));
    }
    // bcrypt writes the cost in two digits (`04`).
    let cost = (cost.len() == 2).then(|| decimal(cost.trim_start_matches('0'))).flatten();
    let cost = cost.ok_or_else(|| malformed("cost is not two digits"))?;
    within(hasher, "cost", cost, MAX_COST)?;
    if cost < MIN_COST || salt_and_hash.len() != 53 {
        return Err(malformed("cost below 4 or not 53 characters of salt and hash"));
    }
    let verified = match hasher {
        Hasher::BcryptSha256 => {
            ::bcrypt::verify(hex::encode(Sha256::digest(password.as_bytes())), bcrypt_string)
        }
        _ => ::bcrypt::verify(password.as_bytes(), bcrypt_string),
    };
    verified.map_err(|_| malformed("salt or hash is not bcrypt's base64"))
}
