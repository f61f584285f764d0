//! Black-box tests over real HTTP; every scenario runs on SQLite and on PostgreSQL.

mod helpers;
mod smtp_sink;

mod accounts;
mod admin_api;
mod admin_console;
mod audit_trail;
mod bad_input;
mod brute_force;
mod command_line;
mod configuration;
mod deploy_files;
mod django_fixtures;
mod django_passwords;
mod email_flows;
mod email_pages;
mod import_django;
mod imported_tokens;

mod janitor;
mod key_rotation;
mod lifecycle;
mod openapi;
mod openid_connect;
mod operations;
mod readme;
mod sealed_keys;

mod browser;
mod browser_social;
mod chromium;
mod grants;
mod refresh_tokens;
mod social;
mod social_helpers;
