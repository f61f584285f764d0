//! Parsed request values: once a string becomes one of these, it is known to be valid.

mod client_type;
mod email;
mod grant_type;
mod password;
pub mod scope;

pub use client_type::ClientType;
pub use email::Email;
pub use grant_type::GrantType;
pub use password::{NewPassword, PasswordRules};
pub use scope::Scope;
