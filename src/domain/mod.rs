//! Parsed request values: once a string becomes one of these, it is known to be valid.

mod client_type;
mod email;
mod grant_type;
mod password;
pub mod scope;

/// The longest first or last name kept, as Django's `User` allows.
pub const NAME_MAX: usize = 150;

pub use client_type::{ClientType, UnknownClientType};
pub use email::{Email, InvalidEmail};
pub use grant_type::{GrantType, UnknownGrantType};
pub use password::{NewPassword, PasswordRules};
pub use scope::Scope;
