//! The browser side of the server: the authorization-code flow on oxide-auth, the
//! session cookie and CSRF tokens, and the server-rendered pages.

pub mod oauth;
pub mod pages;
pub mod prompt;
pub mod session;
pub mod sign_in;
