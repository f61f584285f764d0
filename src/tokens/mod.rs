//! Issuing, rotating, revoking and verifying tokens: JWT access tokens signed with the
//! server's keys, and refresh tokens in families.

pub mod id_token;
pub mod imported;
pub mod issuer;
pub mod keys;
pub mod random;
pub mod resealing;
pub mod revocation;
pub mod sealed;
mod verified;

pub use issuer::{Family, Grant, Issued, SignInFacts, TokenIssuer, TokenResponse};
pub use keys::{AccessClaims, KeyStore};
