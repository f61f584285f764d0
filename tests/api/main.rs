//! Black-box tests over real HTTP; every scenario runs on SQLite and on PostgreSQL.

mod helpers;

mod password_grant;
