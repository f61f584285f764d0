//! Secrets at rest that cannot be hashed: provider refresh tokens, and the signing keys
//! when the operator sets `PORTCULLIS_SECRET_KEY`. AES-256-GCM under a key derived from
//! that secret. Unlike our own tokens they cannot be hashed, because they
//! are worth keeping only if they can be sent back to the provider. What a value belongs
//! to is the associated data (a link's provider and uid, a key's `kid`), so a sealed value
//! copied onto another row does not open.

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

const VERSION: &str = "v1.";

fn key(secret: &SecretString) -> RandomizedNonceKey {
    // A key of its own, so the cookie MACs and this cipher never share one.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"portcullis:provider-refresh-token");
    RandomizedNonceKey::new(&AES_256_GCM, &mac.finalize().into_bytes()).expect("a 32-byte AES key")
}

/// `v1.` and the base64url of nonce, ciphertext and tag.
pub fn seal(secret: &SecretString, context: &str, plaintext: &str) -> String {
    let mut in_out = plaintext.as_bytes().to_vec();
    let nonce = key(secret)
        .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
        .expect("AES-GCM sealing does not fail for short inputs");
    let mut sealed = nonce.as_ref().to_vec();
    sealed.extend_from_slice(&in_out);
    format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(sealed))
}

/// Whether `value` is sealed (its format's prefix; base64 of a key never starts so).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(VERSION)
}

/// None when the value was not sealed under this secret and context.
pub fn open(secret: &SecretString, context: &str, sealed: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(VERSION)?).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = ciphertext.to_vec();
    let plain = key(secret).open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

/// The associated data for a provider link.
pub fn link_context(provider: &str, uid: &str) -> String {
    format!("{provider}\n{uid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_under_the_same_secret_and_context() {
        let secret = SecretString::from("server secret");
        let sealed = seal(&secret, "google-oauth2\n1", "1//refresh-token");
        assert!(!sealed.contains("refresh-token"));
        assert_ne!(sealed, seal(&secret, "google-oauth2\n1", "1//refresh-token"), "a fresh nonce each time");
        assert_eq!(open(&secret, "google-oauth2\n1", &sealed).as_deref(), Some("1//refresh-token"));
        assert_eq!(open(&secret, "google-oauth2\n2", &sealed), None);
        assert_eq!(open(&SecretString::from("other secret"), "google-oauth2\n1", &sealed), None);
        assert_eq!(open(&secret, "google-oauth2\n1", "v1.AAAA"), None);
    }
}
