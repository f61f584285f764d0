//! Black-box tests over real HTTP; every scenario runs on SQLite and on PostgreSQL.

mod helpers;

mod accounts;

mod lifecycle;

mod grants;
mod password_grant;
mod refresh_tokens;
