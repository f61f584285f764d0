//! `scrypt$<n>$<salt>$<r>$<p>$<hash>` (Django 4.0 and later): scrypt over the password's and
//! the salt's UTF-8 bytes, 64 bytes out, in padded base64. Django's default is n = 2^14,
//! r = 8, p = 5.

use ::scrypt::{scrypt, Params};
use subtle::ConstantTimeEq;

use super::fields::{base64, decimal};
use super::{within, Hasher, LegacyHashError};

const HASHER: Hasher = Hasher::Scrypt;
const OUTPUT_LEN: usize = 64;

/// 64 times Django's default cost factor.
const MAX_N: u64 = 1 << 20;
/// The 128·n·r bytes scrypt fills and rereads; Django's default needs 16 MiB. (Django itself
/// stops at OpenSSL's 32 MiB unless a project raised `maxmem`.)
const MAX_MEMORY: u64 = 256 << 20;
/// scrypt also keeps 128·r·p bytes for its p lanes at once; 1024 keeps that to 128 KiB.
const MAX_R_TIMES_P: u64 = 1024;
/// The work, n·r·p (lanes run one after another): 2^24 is 25 times Django's default (a
/// quarter of a second on one core here), so about 6 s.
const MAX_WORK: u64 = 1 << 24;

pub fn verify(fields: &str, password: &str) -> Result<bool, LegacyHashError> {
    let malformed = |reason| LegacyHashError::malformed(HASHER, reason);
    let mut parts = fields.splitn(5, '$');
    let (Some(n), Some(salt), Some(r), Some(p), Some(hash)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected <n>$<salt>$<r>$<p>$<hash>"));
    };
    let count = |field| decimal(field).ok_or_else(|| malformed("n, r or p is not a count"));
    let (n, r, p) = (count(n)?, count(r)?, count(p)?);
    within(HASHER, "n", n, MAX_N)?;
    // Saturating: r and p are not bounded yet.
    within(HASHER, "memory (bytes)", n.saturating_mul(r).saturating_mul(128), MAX_MEMORY)?;
    within(HASHER, "r·p", r.saturating_mul(p), MAX_R_TIMES_P)?;
    within(HASHER, "work (n·r·p)", n.saturating_mul(r).saturating_mul(p), MAX_WORK)?;
    if n < 2 || !n.is_power_of_two() {
        return Err(malformed("n is not a power of two above 1"));
    }
    if salt.is_empty() {
        return Err(malformed("empty salt"));
    }
    // Within the limits above, r and p fit in u32 and log2(n) in u8.
    let params = Params::new(n.trailing_zeros() as u8, r as u32, p as u32, OUTPUT_LEN)
        .map_err(|_| malformed("parameters scrypt does not accept"))?;
    let expected = base64(hash).ok_or_else(|| malformed("hash is not base64"))?;
    if expected.len() != OUTPUT_LEN {
        return Err(malformed("hash is not 64 bytes"));
    }
    let mut computed = [0u8; OUTPUT_LEN];
    scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut computed)
        .map_err(|_| malformed("output length"))?;
    Ok(computed.ct_eq(&expected).into())
}
