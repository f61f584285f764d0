//! Portcullis: an OAuth2 authorization server speaking the drf-social-oauth2 API.

pub mod admin;
pub mod auth;
pub mod browser;
pub mod clean_path;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod grants;
pub mod import;
pub mod manage;
pub mod metrics;
pub mod params;
pub mod providers;
pub mod respond;
pub mod routes;
pub mod social;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod time;
pub mod tokens;
