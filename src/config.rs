//! Settings: one value built once from the environment and an optional TOML file.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ipnet::IpNet;
use secrecy::SecretString;

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path for the embedded SQLite database.
    Sqlite(String),
    /// A libpq connection string.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        // `sqlite://relative.db` and `sqlite:///absolute/path.db` both name a file.
        let path = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")).unwrap_or(raw);
        if path.is_empty() || path.contains("://") {
            return Err(ConfigError::invalid("DATABASE_URL", "expected sqlite://PATH or postgres://..."));
        }
        Ok(Self::Sqlite(path.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
}

impl ConfigError {
    fn invalid(key: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid { key, reason: reason.into() }
    }
}

/// Thresholds for counting failed sign-ins and sign-ups.
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// `PORTCULLIS_THROTTLE_WINDOW` (default 900 s): the sliding window.
    pub window_secs: i64,
    /// `PORTCULLIS_THROTTLE_ACCOUNT_FAILURES` (default 10) per account per window.
    pub account_failures: i64,
    /// `PORTCULLIS_THROTTLE_ADDRESS_FAILURES` (default 100) per client address per window.
    pub address_failures: i64,
    /// `PORTCULLIS_THROTTLE_REGISTRATIONS` (default 20) sign-ups per address per window.
    pub registrations: i64,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    /// Connections per pool; `PORTCULLIS_DB_POOL_SIZE`, default 2 per core, at least 4.
    pub db_pool_size: u32,
    pub bind: SocketAddr,
    /// HTTP worker threads; `PORTCULLIS_WORKERS`, default one per core.
    pub workers: usize,
    pub issuer: String,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub refresh_reuse_grace: i64,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub secret_key: Option<SecretString>,
    pub throttle: ThrottleSettings,
    pub providers: ProviderSettings,
    pub mail: MailSettings,
    /// `PORTCULLIS_JANITOR_INTERVAL`: seconds between janitor runs on each server (0: none).
    pub janitor_interval_secs: u64,
    /// `PORTCULLIS_AUDIT_RETENTION_DAYS`: audit events older than this are deleted.
    pub audit_retention_days: i64,
    /// `PORTCULLIS_KEY_ROTATION_DAYS`: signing keys rotate by themselves this often (0: never).
    pub key_rotation_days: i64,
    /// `RUST_LOG`, for the file's value to apply too (the environment's wins anyway).
    pub log_filter: String,
}

/// Outgoing mail and the email flows (SPEC §12).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `PORTCULLIS_SMTP_URL`; without it mail is written to the log.
    pub smtp_url: Option<SecretString>,
    /// `PORTCULLIS_MAIL_FROM`, a mailbox (`Name <address>` or a bare address).
    pub from: lettre::message::Mailbox,
    /// `PORTCULLIS_PUBLIC_URL`, where links in mail point (default: the issuer).
    pub public_url: String,
    /// `PORTCULLIS_REQUIRE_VERIFIED_EMAIL`: the password grant refuses unverified accounts.
    pub require_verified_email: bool,
}

/// Identity provider settings; URLs are configuration so tests can point them at a fake.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub timeout_ms: u64,
    pub google_client_ids: Vec<String>,
    pub google_client_secret: Option<SecretString>,
    pub google_auth_url: String,
    pub google_token_url: String,
    pub google_tokeninfo_url: String,
    pub google_userinfo_url: String,
    pub google_jwks_url: String,
    pub facebook_app_id: Option<String>,
    pub facebook_app_secret: Option<SecretString>,
    pub facebook_graph_url: String,
    pub facebook_dialog_url: String,
    pub apple_client_ids: Vec<String>,
    pub apple_jwks_url: String,
}

/// One setting: the environment variable that sets it, its default and what it means.
/// This table is the only list of settings: `--help` is built from it (`cli.rs`), the
/// TOML keys are derived from it, and `parse` takes its defaults from it.
#[derive(Debug)]
pub struct Setting {
    pub env: &'static str,
    /// The default as `--help` shows it; `None` when it is empty or computed (then
    /// `about` says what it is).
    pub default: Option<&'static str>,
    pub about: &'static str,
    /// Its value is never echoed (`--help` hides the environment's value).
    pub secret: bool,
}

const fn plain(env: &'static str, default: &'static str, about: &'static str) -> Setting {
    Setting { env, default: Some(default), about, secret: false }
}

const fn unset(env: &'static str, about: &'static str) -> Setting {
    Setting { env, default: None, about, secret: false }
}

const fn secret(env: &'static str, about: &'static str) -> Setting {
    Setting { env, default: None, about, secret: true }
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        env: "DATABASE_URL",
        default: Some("sqlite://portcullis.db"),
        about: "Where the data lives: sqlite://PATH (relative, or sqlite:///absolute/path) or postgres://...",
        // A PostgreSQL URL may carry a password.
        secret: true,
    },
    unset("PORTCULLIS_DB_POOL_SIZE", "Database connections per pool (default: two per CPU core, at least 4)"),
    plain("PORTCULLIS_BIND", "127.0.0.1:8000", "The address and port to listen on"),
    unset("PORTCULLIS_WORKERS", "HTTP worker threads (default: one per CPU core)"),
    unset(
        "PORTCULLIS_ISSUER",
        "The public base URL, the tokens' issuer; https makes the browser cookie Secure (default: http:// and \
         the bind address)",
    ),
    plain("PORTCULLIS_ACCESS_TOKEN_TTL", "3600", "Access token lifetime, in seconds"),
    plain("PORTCULLIS_REFRESH_TOKEN_TTL", "2592000", "Refresh token lifetime, in seconds"),
    plain(
        "PORTCULLIS_REFRESH_REUSE_GRACE",
        "0",
        "Seconds after a rotation during which replaying the previous refresh token is refused without \
         revoking its family",
    ),
    unset("PORTCULLIS_CORS_ORIGINS", "Origins whose browser pages may call the API, comma-separated (default: none)"),
    unset(
        "PORTCULLIS_TRUSTED_PROXIES",
        "CIDRs of proxies whose X-Forwarded-For gives the client address, comma-separated (default: none)",
    ),
    secret(
        "PORTCULLIS_SECRET_KEY",
        "Key for cookies and for sealing provider refresh tokens (default: generated and stored in the \
         database on first start)",
    ),
    plain("PORTCULLIS_THROTTLE_WINDOW", "900", "Seconds over which failed sign-ins and sign-ups are counted"),
    plain("PORTCULLIS_THROTTLE_ACCOUNT_FAILURES", "10", "Failed sign-ins per account per window, then 429"),
    plain(
        "PORTCULLIS_THROTTLE_ADDRESS_FAILURES",
        "100",
        "Failed sign-ins per client address per window, then 429",
    ),
    plain("PORTCULLIS_THROTTLE_REGISTRATIONS", "20", "Sign-ups per client address per window, then 429"),
    secret(
        "PORTCULLIS_SMTP_URL",
        "Where mail goes: smtp://host:25, smtp://user:pass@host:587?tls=starttls or smtps://host:465 \
         (default: none, mail is written to the log)",
    ),
    plain("PORTCULLIS_MAIL_FROM", "portcullis@localhost", "The sender of every mail: Name <address> or an address"),
    unset("PORTCULLIS_PUBLIC_URL", "The base URL of links in mail (default: the issuer)"),
    plain(
        "PORTCULLIS_REQUIRE_VERIFIED_EMAIL",
        "false",
        "true: the password grant refuses accounts whose email is not verified",
    ),
    plain(
        "PORTCULLIS_JANITOR_INTERVAL",
        "600",
        "Seconds between the janitor's runs on each server, which delete expired and revoked rows (0: never)",
    ),
    plain("PORTCULLIS_AUDIT_RETENTION_DAYS", "365", "Days audit events are kept"),
    plain(
        "PORTCULLIS_KEY_ROTATION_DAYS",
        "30",
        "Days between automatic rotations of the signing keys, by one replica (0: only keys rotate)",
    ),
    plain("PORTCULLIS_PROVIDER_TIMEOUT_MS", "5000", "Timeout of each call to an identity provider, in milliseconds"),
    unset(
        "PORTCULLIS_GOOGLE_CLIENT_IDS",
        "Google client ids (web, iOS, Android), comma-separated (default: none, Google disabled)",
    ),
    secret("PORTCULLIS_GOOGLE_CLIENT_SECRET", "The first Google client id's secret, for the browser redirect flow"),
    plain("PORTCULLIS_GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth", "Google's authorization endpoint"),
    plain("PORTCULLIS_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token", "Google's token endpoint"),
    plain(
        "PORTCULLIS_GOOGLE_TOKENINFO_URL",
        "https://oauth2.googleapis.com/tokeninfo",
        "Google's tokeninfo endpoint (checks Google access tokens)",
    ),
    plain(
        "PORTCULLIS_GOOGLE_USERINFO_URL",
        "https://openidconnect.googleapis.com/v1/userinfo",
        "Google's userinfo endpoint",
    ),
    plain("PORTCULLIS_GOOGLE_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs", "Google's ID token signing keys"),
    unset("PORTCULLIS_FACEBOOK_APP_ID", "The Facebook app id (default: none, Facebook disabled)"),
    secret("PORTCULLIS_FACEBOOK_APP_SECRET", "The Facebook app secret"),
    plain(
        "PORTCULLIS_FACEBOOK_GRAPH_URL",
        "https://graph.facebook.com/v19.0",
        "The Graph API base (/debug_token, /me and /oauth/access_token below it)",
    ),
    plain(
        "PORTCULLIS_FACEBOOK_DIALOG_URL",
        "https://www.facebook.com/v19.0/dialog/oauth",
        "Facebook's authorization dialog",
    ),
    unset(
        "PORTCULLIS_APPLE_CLIENT_IDS",
        "Apple services and bundle ids, comma-separated (default: none, Apple disabled)",
    ),
    plain("PORTCULLIS_APPLE_JWKS_URL", "https://appleid.apple.com/auth/keys", "Apple's ID token signing keys"),
    plain("RUST_LOG", "info", "Log filter, e.g. info or portcullis=debug,info"),
];

impl Setting {
    /// The TOML key: lower case, without the `PORTCULLIS_` prefix.
    pub fn file_key(&self) -> String {
        self.env.strip_prefix("PORTCULLIS_").unwrap_or(self.env).to_ascii_lowercase()
    }

    /// The command-line flag, without its dashes.
    pub fn flag(&self) -> String {
        self.file_key().replace('_', "-")
    }
}

/// The default of `key`, which must be in `SETTINGS` with a default.
fn default_of(key: &str) -> &'static str {
    SETTINGS
        .iter()
        .find(|s| s.env == key)
        .and_then(|s| s.default)
        .unwrap_or_else(|| panic!("{key} is not a setting with a default"))
}

/// Raw string values by environment-variable name, before parsing.
#[derive(Debug, Default, Clone)]
pub struct RawSettings(HashMap<String, String>);

impl RawSettings {
    /// The TOML file (if any) overlaid by `given`, the values set on the command line or
    /// in the environment (by environment-variable name), which win.
    pub fn load<'a>(
        config_path: Option<&Path>,
        given: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Result<Self, ConfigError> {
        let mut raw = match config_path {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        for (key, value) in given {
            raw.0.insert(key.to_owned(), value);
        }
        Ok(raw)
    }

    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let fail = |reason: String| ConfigError::File { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| fail(e.to_string()))?;
        let mut raw = Self::default();
        for setting in SETTINGS {
            let Some(value) = table.get(&setting.file_key()) else { continue };
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            raw.0.insert(setting.env.to_owned(), text);
        }
        Ok(raw)
    }

    /// Set one value by its environment-variable name (tests use this).
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    fn string(&self, key: &str) -> String {
        self.get(key).unwrap_or_else(|| default_of(key)).to_owned()
    }

    fn number<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, ConfigError> {
        let text = self.get(key).unwrap_or_else(|| default_of(key));
        text.parse().map_err(|_| ConfigError::invalid(key, format!("not a number: {text}")))
    }

    /// A number whose default is computed, not in `SETTINGS`.
    fn number_or<T: std::str::FromStr>(&self, key: &'static str, computed: T) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(computed),
            Some(_) => self.number(key),
        }
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn flag(&self, key: &'static str) -> Result<bool, ConfigError> {
        match self.get(key).unwrap_or_else(|| default_of(key)).to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            other => Err(ConfigError::invalid(key, format!("expected true or false, not {other}"))),
        }
    }

    fn secret(&self, key: &str) -> Option<SecretString> {
        self.get(key).map(|v| SecretString::from(v.to_owned()))
    }

    pub fn parse(&self) -> Result<Settings, ConfigError> {
        let database_url = DatabaseUrl::parse(&self.string("DATABASE_URL"))?;
        let bind_text = self.string("PORTCULLIS_BIND");
        let bind: SocketAddr = bind_text
            .parse()
            .map_err(|_| ConfigError::invalid("PORTCULLIS_BIND", format!("not an address: {bind_text}")))?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let issuer = self
            .get("PORTCULLIS_ISSUER")
            .map(|s| s.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{bind}"));
        let trusted_proxies = self
            .list("PORTCULLIS_TRUSTED_PROXIES")
            .iter()
            .map(|cidr| parse_cidr(cidr))
            .collect::<Result<_, _>>()?;
        let positive = |key: &'static str, value: i64| {
            if value > 0 {
                Ok(value)
            } else {
                Err(ConfigError::invalid(key, "must be positive"))
            }
        };
        Ok(Settings {
            database_url,
            db_pool_size: self.number_or("PORTCULLIS_DB_POOL_SIZE", (cores as u32 * 2).max(4))?,
            bind,
            workers: self.number_or("PORTCULLIS_WORKERS", cores)?.max(1),
            access_token_ttl: positive(
                "PORTCULLIS_ACCESS_TOKEN_TTL",
                self.number("PORTCULLIS_ACCESS_TOKEN_TTL")?,
            )?,
            refresh_token_ttl: positive(
                "PORTCULLIS_REFRESH_TOKEN_TTL",
                self.number("PORTCULLIS_REFRESH_TOKEN_TTL")?,
            )?,
            refresh_reuse_grace: self.number::<i64>("PORTCULLIS_REFRESH_REUSE_GRACE")?.max(0),
            cors_origins: self.list("PORTCULLIS_CORS_ORIGINS"),
            trusted_proxies,
            secret_key: match self.secret("PORTCULLIS_SECRET_KEY") {
                // The keys that seal signing keys and provider tokens are derived from it.
                Some(secret) if secrecy::ExposeSecret::expose_secret(&secret).chars().count() < 32 => {
                    return Err(ConfigError::invalid(
                        "PORTCULLIS_SECRET_KEY",
                        "must be at least 32 characters",
                    ))
                }
                other => other,
            },
            throttle: ThrottleSettings {
                window_secs: positive(
                    "PORTCULLIS_THROTTLE_WINDOW",
                    self.number("PORTCULLIS_THROTTLE_WINDOW")?,
                )?,
                account_failures: self.number("PORTCULLIS_THROTTLE_ACCOUNT_FAILURES")?,
                address_failures: self.number("PORTCULLIS_THROTTLE_ADDRESS_FAILURES")?,
                registrations: self.number("PORTCULLIS_THROTTLE_REGISTRATIONS")?,
            },
            providers: ProviderSettings {
                timeout_ms: self.number("PORTCULLIS_PROVIDER_TIMEOUT_MS")?,
                google_client_ids: self.list("PORTCULLIS_GOOGLE_CLIENT_IDS"),
                google_client_secret: self.secret("PORTCULLIS_GOOGLE_CLIENT_SECRET"),
                google_auth_url: self.string("PORTCULLIS_GOOGLE_AUTH_URL"),
                google_token_url: self.string("PORTCULLIS_GOOGLE_TOKEN_URL"),
                google_tokeninfo_url: self.string("PORTCULLIS_GOOGLE_TOKENINFO_URL"),
                google_userinfo_url: self.string("PORTCULLIS_GOOGLE_USERINFO_URL"),
                google_jwks_url: self.string("PORTCULLIS_GOOGLE_JWKS_URL"),
                facebook_app_id: self.get("PORTCULLIS_FACEBOOK_APP_ID").map(str::to_owned),
                facebook_app_secret: self.secret("PORTCULLIS_FACEBOOK_APP_SECRET"),
                facebook_graph_url: self.string("PORTCULLIS_FACEBOOK_GRAPH_URL"),
                facebook_dialog_url: self.string("PORTCULLIS_FACEBOOK_DIALOG_URL"),
                apple_client_ids: self.list("PORTCULLIS_APPLE_CLIENT_IDS"),
                apple_jwks_url: self.string("PORTCULLIS_APPLE_JWKS_URL"),
            },
            mail: MailSettings {
                smtp_url: self.secret("PORTCULLIS_SMTP_URL"),
                from: {
                    let from = self.string("PORTCULLIS_MAIL_FROM");
                    from.parse().map_err(|_| {
                        ConfigError::invalid("PORTCULLIS_MAIL_FROM", format!("not a mailbox: {from}"))
                    })?
                },
                public_url: self
                    .get("PORTCULLIS_PUBLIC_URL")
                    .map(|s| s.trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| issuer.clone()),
                require_verified_email: self.flag("PORTCULLIS_REQUIRE_VERIFIED_EMAIL")?,
            },
            janitor_interval_secs: self.number("PORTCULLIS_JANITOR_INTERVAL")?,
            audit_retention_days: positive(
                "PORTCULLIS_AUDIT_RETENTION_DAYS",
                self.number("PORTCULLIS_AUDIT_RETENTION_DAYS")?,
            )?,
            key_rotation_days: self.number::<i64>("PORTCULLIS_KEY_ROTATION_DAYS")?.max(0),
            issuer,
            log_filter: self.string("RUST_LOG"),
        })
    }
}

fn parse_cidr(text: &str) -> Result<IpNet, ConfigError> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| ConfigError::invalid("PORTCULLIS_TRUSTED_PROXIES", format!("not a CIDR: {text}")))
}

impl Settings {
    /// Settings from `--config`/`PORTCULLIS_CONFIG` and `given`, the values from the
    /// command line and the environment.
    pub fn load<'a>(
        config_path: Option<&Path>,
        given: impl IntoIterator<Item = (&'a str, String)>,
    ) -> Result<Self, ConfigError> {
        RawSettings::load(config_path, given)?.parse()
    }

    /// An https issuer: the browser cookie is Secure and `__Host-` prefixed.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_pick_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://portcullis.db").unwrap(),
            DatabaseUrl::Sqlite("portcullis.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/p.sqlite").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/p.sqlite".into())
        );
        assert!(matches!(DatabaseUrl::parse("postgres://u@h/db").unwrap(), DatabaseUrl::Postgres(_)));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn defaults_follow_the_spec() {
        let s = RawSettings::default().parse().unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(s.issuer, "http://127.0.0.1:8000");
        assert_eq!(s.access_token_ttl, 3600);
        assert_eq!(s.refresh_token_ttl, 2_592_000);
        assert_eq!(s.refresh_reuse_grace, 0);
    }

    #[test]
    fn each_setting_is_listed_once() {
        let mut names: Vec<_> = SETTINGS.iter().map(|s| s.env).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len());
    }

    #[test]
    fn toml_keys_drop_the_prefix_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\naccess_token_ttl = 60\ncors_origins = [\"http://a\", \"http://b\"]\n",
        )
        .unwrap();
        let mut raw = RawSettings::from_toml_file(&path).unwrap();
        let s = raw.parse().unwrap();
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.access_token_ttl, 60);
        assert_eq!(s.cors_origins, vec!["http://a", "http://b"]);
        raw.set("PORTCULLIS_ACCESS_TOKEN_TTL", "120");
        assert_eq!(raw.parse().unwrap().access_token_ttl, 120);
    }
}
