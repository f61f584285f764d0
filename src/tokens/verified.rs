//! Access tokens whose signature already checked out, so a token presented again skips
//! the Ed25519 verification (the largest cost of every resource request).
//!
//! The key is the whole token string: a token that differs by one byte misses and gets
//! fully verified. Only claims that passed signature, issuer and audience checks are
//! stored; expiry is the caller's check on every hit, since a cached token ages.

use std::collections::HashMap;
use std::sync::Mutex;

use super::AccessClaims;

/// Enough for every live session of a busy replica between two clears; about 3 MB full.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, AccessClaims>>,
}

impl VerifiedTokens {
    pub fn get(&self, token: &str) -> Option<AccessClaims> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }

    pub fn insert(&self, token: &str, claims: &AccessClaims) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Dropping everything when full is cruder than LRU but bounded and cheap; the
        // next request per token simply verifies again.
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token.into(), claims.clone());
    }

    /// Forgets every token, for when the key set changes.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(jti: &str) -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            sub: "1".into(),
            aud: "i".into(),
            client_id: "c".into(),
            scope: "read".into(),
            iat: 0,
            exp: 10,
            jti: jti.into(),
        }
    }

    #[test]
    fn only_the_exact_token_hits() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", &claims("x"));
        assert_eq!(cache.get("a.b.c").map(|c| c.jti), Some("x".to_string()));
        assert!(cache.get("a.b.d").is_none());
    }

    #[test]
    fn stays_bounded() {
        let cache = VerifiedTokens::default();
        for i in 0..CAPACITY + 1 {
            cache.insert(&format!("t{i}"), &claims("x"));
        }
        assert!(cache.entries.lock().unwrap().len() <= CAPACITY);
        assert!(cache.get(&format!("t{CAPACITY}")).is_some());
    }
}
