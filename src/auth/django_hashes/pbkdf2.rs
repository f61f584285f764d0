//! `pbkdf2_sha256$<iterations>$<salt>$<hash>` and `pbkdf2_sha1$...`: PBKDF2-HMAC over the
//! password's and the salt's UTF-8 bytes, the hash as long as the digest, in padded base64.
//!
//! Computed by aws-lc-rs (already here for signing): its PBKDF2 is compiled optimised in
//! every profile and compares in constant time.

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2::{self as aws_pbkdf2, PBKDF2_HMAC_SHA1, PBKDF2_HMAC_SHA256};

use super::fields::{base64, decimal};
use super::{within, Hasher, LegacyHashError};

/// Django writes 1 000 000 rounds since 5.2 (600 000 in 4.2), half a second of one core
/// here, and raises the count with each release; ten times today's default leaves room for
/// a project that raised it (about 5 s per attempt), where 10^9 rounds would take minutes.
const MAX_ITERATIONS: u64 = 10_000_000;

pub fn verify(hasher: Hasher, fields: &str, password: &str) -> Result<bool, LegacyHashError> {
    let malformed = |reason| LegacyHashError::malformed(hasher, reason);
    let mut parts = fields.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("expected <iterations>$<salt>$<hash>"));
    };
    let iterations = decimal(iterations).ok_or_else(|| malformed("iterations is not a count"))?;
    within(hasher, "iterations", iterations, MAX_ITERATIONS)?;
    let rounds =
        u32::try_from(iterations).ok().and_then(NonZeroU32::new).ok_or_else(|| malformed("no iterations"))?;
    if salt.is_empty() {
        return Err(malformed("empty salt"));
    }
    let (algorithm, len) = match hasher {
        Hasher::Pbkdf2Sha1 => (PBKDF2_HMAC_SHA1, 20),
        _ => (PBKDF2_HMAC_SHA256, 32),
    };
    let expected = base64(hash).ok_or_else(|| malformed("hash is not base64"))?;
    if expected.len() != len {
        return Err(malformed("hash is not as long as the digest"));
    }
    Ok(aws_pbkdf2::verify(algorithm, rounds, salt.as_bytes(), password.as_bytes(), &expected).is_ok())
}
