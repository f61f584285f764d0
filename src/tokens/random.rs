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

/// A refresh token as its client holds it. It is never stored (its `key` is) and
/// never printed: `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A token a client presented, whatever its shape.
    pub fn presented(token: String) -> Self {
        Self(token)
    }

    /// The token itself, for the one response that hands it to its client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key its record is stored and found under (`refresh_token_key`).
    pub fn key(&self) -> TokenKey {
        refresh_token_key(&self.0)
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(redacted)")
    }
}

/// The key a refresh token's record is stored under: not the token, and not
/// interchangeable with it or with any other string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenKey(String);

impl TokenKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(redacted)")
    }
}

/// A new refresh token and the key its record is stored under.
pub struct NewRefreshToken {
    pub token: RefreshToken,
    pub key: TokenKey,
}

/// A refresh token: the prefix, a selector (an `ordered_id`, which is not secret), `_`,
/// and 256 random bits.
pub fn refresh_token() -> NewRefreshToken {
    let token = RefreshToken(format!("{REFRESH_PREFIX}{}_{}", ordered_id(), token(32)));
    NewRefreshToken { key: token.key(), token }
}

/// The key a refresh token's record is stored and found under: its selector, `.`, and
/// the SHA-256 of the whole token, so the token itself is never stored. Why the
/// selector leads: every new key then lands beside the last one in the unique index,
/// where a bare hash put each insert on a random page. A token without a selector
/// (issued before there was one) is stored under its bare hash.
pub fn refresh_token_key(presented: &str) -> TokenKey {
    let selector = presented
        .strip_prefix(REFRESH_PREFIX)
        .and_then(|rest| {
            rest.get(..SELECTOR_LEN).filter(|_| rest.as_bytes().get(SELECTOR_LEN) == Some(&b'_'))
        })
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    TokenKey(match selector {
        Some(selector) => format!("{selector}.{}", sha256_hex(presented)),
        None => sha256_hex(presented),
    })
}

/// The key of a refresh token without our prefix, from its SHA-256 hex alone (what
/// `refresh_token_key` gives it): django-oauth-toolkit's `token_checksum`, for tokens
/// imported without their clear text.
pub fn refresh_token_key_of_sha256(sha256: &str) -> TokenKey {
    TokenKey(sha256.to_ascii_lowercase())
}

/// Hex digits of an `ordered_id`.
const SELECTOR_LEN: usize = 32;

/// A confidential client's secret, shown once when it is made: `Debug` shows nothing
/// of it, and only its `hash` is stored.
#[derive(Clone, serde::Serialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A new 256-bit secret.
    pub fn generate() -> Self {
        Self(format!("{SECRET_PREFIX}{}", token(32)))
    }

    /// A secret made elsewhere and brought over in clear (an import's), to be hashed as ours are.
    pub fn imported(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What `applications.secret_hash` holds.
    pub fn hash(&self) -> String {
        sha256_hex(&self.0)
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(redacted)")
    }
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
        let NewRefreshToken { token, key } = refresh_token();
        let (token, key) = (token.expose().to_owned(), key.as_str().to_owned());
        let (selector, secret) = token.strip_prefix(REFRESH_PREFIX).unwrap().split_once('_').unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        assert_eq!(selector.len(), SELECTOR_LEN);
        assert!(!token.contains(['+', '/', '=', '.']));
        assert_ne!(token, refresh_token().token.expose());
        assert_eq!(key, format!("{selector}.{}", sha256_hex(&token)));
        assert!(!key.contains(secret));
    }

    #[test]
    fn later_refresh_tokens_have_later_keys() {
        let first = refresh_token().key;
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(first < refresh_token().key);
    }

    #[test]
    fn a_token_without_a_selector_is_keyed_by_its_bare_hash() {
        for presented in ["pc_rt_not-a-token", "pc_rt_0123456789abcdef0123456789abcdef-x", "opaque", ""] {
            assert_eq!(refresh_token_key(presented).as_str(), sha256_hex(presented), "{presented}");
        }
        let upper = "pc_rt_0123456789ABCDEF0123456789ABCDEF_secret";
        assert_eq!(refresh_token_key(upper).as_str(), sha256_hex(upper));
    }

    #[test]
    fn an_imported_tokens_checksum_is_the_key_its_clear_text_would_have() {
        let checksum = sha256_hex("djLiveRefreshAliceWeb000000000001");
        let key = refresh_token_key("djLiveRefreshAliceWeb000000000001");
        assert_eq!(refresh_token_key_of_sha256(&checksum), key);
        assert_eq!(refresh_token_key_of_sha256(&checksum.to_ascii_uppercase()), key);
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
        let secret = ClientSecret::generate();
        let stored = secret.hash();
        assert!(matches_hash(secret.expose(), &stored));
        assert!(!matches_hash(&format!("{}x", secret.expose()), &stored));
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }
}
