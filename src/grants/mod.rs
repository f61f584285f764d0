//! The grants: each decides, from a parsed request and an authorized client, whether
//! tokens are issued, and has `TokenIssuer` issue them. Routes parse and respond.

pub mod authorization_code;
pub mod client_credentials;
pub mod convert;
pub mod password;
pub mod refresh;

use crate::domain::scope::ADMIN;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::store::users::User;

/// The requested scope for a user; `admin` only for staff.
pub fn user_scope(raw: Option<&str>, user: &User) -> Result<Scope, ApiError> {
    let scope = Scope::requested(raw)?;
    if scope.contains(ADMIN) && !user.is_staff {
        return Err(ApiError::InvalidScope("The 'admin' scope is reserved to staff users.".into()));
    }
    Ok(scope)
}

/// A disabled user gets no tokens, whichever way they sign in.
fn active(user: &User) -> Result<(), ApiError> {
    if !user.is_active {
        return Err(ApiError::invalid_grant("The user account is disabled."));
    }
    Ok(())
}
