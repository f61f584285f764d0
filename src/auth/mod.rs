//! Who is calling: client authentication, Bearer tokens, and password hashing.

pub mod bearer;
pub mod client;
pub mod client_auth;
pub mod client_cache;
pub mod client_ip;
pub mod django_hashes;
mod legacy_secrets;
pub mod password_check;
pub mod passwords;
pub mod stamped_clients;
