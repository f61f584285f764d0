//! High-entropy values (tokens, secrets, ids) and their fast hashes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefixes make a leaked token recognisable to secret scanners.
pub const REFRESH_PREFIX: &str = "pc_rt_";
pub const SECRET_PREFIX: &str = "pc_cs_";

/// `bytes` random bytes from the OS generator, base64url without padding.
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A 128-bit id that sorts by creation time: 48 bits of Unix milliseconds, then 80
/// random bits, in hex. For ids that are indexed but not secret (a token's `jti`, a
/// refresh family): each insert lands beside the last one in the index instead of on a
/// random page, which is one page less for SQLite's WAL to copy per insert.
pub fn ordered_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut buf = [0u8; 16];
    buf[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    rand::rngs::OsRng.fill_bytes(&mut buf[6..]);
    hex::encode(buf)
}

/// A 256-bit refresh token.
pub fn refresh_token() -> String {
    format!("{REFRESH_PREFIX}{}", token(32))
}

/// A 256-bit client secret.
pub fn client_secret() -> String {
    format!("{SECRET_PREFIX}{}", token(32))
}

/// A client id: 128 bits is plenty for an identifier that is not a secret. Hex, so it
/// never starts with `-` (which command lines would take for a flag) or needs escaping.
pub fn client_id() -> String {
    let mut buf = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 hex. The inputs are 256-bit random values, so a slow or salted hash would
/// add cost without adding safety.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Compares a presented secret with a stored hash without leaking where they differ.
pub fn matches_hash(presented: &str, stored_hash: &str) -> bool {
    sha256_hex(presented).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_prefixed_url_safe_and_256_bit() {
        let t = refresh_token();
        let body = t.strip_prefix(REFRESH_PREFIX).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert!(!t.contains(['+', '/', '=']));
        assert_ne!(t, refresh_token());
    }

    #[test]
    fn ordered_ids_sort_by_time_and_differ() {
        let first = ordered_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = ordered_id();
        assert_eq!(first.len(), 32);
        assert!(first < second, "{first} then {second}");
        assert_ne!(ordered_id(), ordered_id());
    }

    #[test]
    fn hash_matching_is_exact() {
        let secret = client_secret();
        let stored = sha256_hex(&secret);
        assert!(matches_hash(&secret, &stored));
        assert!(!matches_hash(&format!("{secret}x"), &stored));
    }
}
