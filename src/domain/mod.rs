//! Parsed request values: once a string becomes one of these, it is known to be valid.

mod client_type;
mod email;
mod grant_type;
mod id_token_alg;
mod password;
pub mod scope;

/// Whether `token` has a JWT's shape (three dot-separated parts, a JSON header): a
/// provider's ID token rather than its opaque access token, or one of our access tokens
/// rather than an opaque one imported from django-oauth-toolkit.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

/// The longest first or last name kept, as Django's `User` allows.
pub const NAME_MAX: usize = 150;

pub use client_type::{ClientType, UnknownClientType};
pub use email::{Email, InvalidEmail};
pub use grant_type::{GrantType, UnknownGrantType};
pub use id_token_alg::{IdTokenAlg, UnknownIdTokenAlg};
pub use password::{NewPassword, PasswordRules};
pub use scope::Scope;
