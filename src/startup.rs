//! Builds the server from settings: pool, migrations, keys, routes. Used by `main` and by
//! the tests, so both run exactly the same application.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_cors::{Cors, CorsError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, Service, ServiceResponse};
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::auth::client_auth::ClientAuth;
use crate::auth::passwords::HashLimiter;
use crate::config::Settings;
use crate::db::{self, DbPool, Writer, Writes};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::routes;
use crate::state::AppState;
use crate::store::secrets;
use crate::tokens::random;
use crate::tokens::{keys, resealing, KeyStore, TokenIssuer};
use secrecy::SecretString;

/// How often each replica re-reads the key table, so a `keys rotate` run elsewhere
/// starts signing here too.
const KEY_RELOAD_PERIOD: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[source] ApiError),
    #[error("database: {0}")]
    Migration(#[from] db::DbError),
    #[error("{0}")]
    Mail(#[from] crate::mail::MailError),
    #[error("{0}")]
    Sealed(#[from] keys::SealError),
    #[error("{0}")]
    Resealing(#[from] resealing::MoveError),
    #[error("cannot bind {0}")]
    Bind(#[from] std::io::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    mailer: crate::mail::Mailer,
}

/// How long a stopping server waits for queued mail, after its last request: long enough
/// for a mail queued just before and a few retries; with the 10 s given to requests in
/// flight, short enough for Kubernetes' 30 s grace period (compose's is set to 20 s).
const MAIL_DRAIN: Duration = Duration::from_secs(5);

/// Connects, applies migrations, settles the server secret (`PORTCULLIS_SECRET_KEY`, or
/// one generated on first start and shared by every replica through the database), and
/// loads (or creates) the signing keys. With an operator's secret the private keys are
/// sealed under it, those still in clear at this start included; a secret they do not
/// open with refuses the start rather than serve tokens nobody could verify.
pub async fn prepare(pool: &DbPool, settings: &Settings) -> Result<(KeyStore, SecretString), StartupError> {
    let pool = pool.clone();
    let issuer = settings.issuer.clone();
    let configured = settings.secret_key.clone();
    let rotation = KeyRotation::of(settings);
    web::block(move || {
        let failed = StartupError::Database;
        let mut pooled = pool.get().map_err(|e| StartupError::Database(e.into()))?;
        db::migrate(&mut pooled)?;
        // Before the server answers: nothing else writes through this connection.
        let mut conn = Writer::offline(&mut pooled);
        keys::check_sealing(&mut conn, configured.as_ref())?;
        if let Some(operator) = &configured {
            seal_first_time(&mut conn, operator)?;
        }
        let keys = KeyStore::load_or_create(&mut conn, &issuer, configured.clone()).map_err(failed)?;
        // Reloaded either way: a replica that waited on another's rotation sees its keys.
        rotate_keys_if_due(&mut conn, &rotation, configured.as_ref()).map_err(failed)?;
        keys.reload(&mut conn).map_err(failed)?;
        let secret = match configured {
            Some(secret) => secret,
            None => secrets::get_or_create(&mut conn, "secret_key", || random::token(32))
                .map(SecretString::from)
                .map_err(|e| failed(e.into()))?,
        };
        Ok((keys, secret))
    })
    .await
    .map_err(|e| StartupError::Database(e.into()))?
}

/// The first start with an operator's secret seals the keys still in clear and moves the
/// provider tokens off the generated secret, in one transaction. A provider token that
/// opens under neither is left as it is (it was unusable before) and said in the log.
fn seal_first_time(conn: &mut Writer<'_>, operator: &SecretString) -> Result<(), StartupError> {
    // The write lock first: on SQLite another replica starting beside this one must wait
    // here, not fail between the reads and the writes.
    let moved = db::write_transaction(conn, |conn| {
        let generated = secrets::get(conn, "secret_key")?.map(SecretString::from);
        resealing::first_sealing(conn, generated.as_ref(), operator)
    })?;
    if moved.keys > 0 {
        tracing::info!(
            keys = moved.keys,
            provider_tokens = moved.provider_tokens,
            "sealed under PORTCULLIS_SECRET_KEY for the first time"
        );
    }
    if moved.unopened > 0 {
        tracing::warn!(
            count = moved.unopened,
            "provider refresh tokens open under neither secret; left as they are"
        );
    }
    Ok(())
}

impl Application {
    pub async fn build(mut settings: Settings) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(settings.bind)?;
        let local = listener.local_addr()?;
        // The default issuer names the bind address; with port 0 it must name the port
        // actually bound.
        if settings.bind.port() == 0 && settings.issuer == format!("http://{}", settings.bind) {
            let bound = format!("http://{local}");
            if settings.mail.public_url == settings.issuer {
                settings.mail.public_url = bound.clone();
            }
            settings.issuer = bound;
        }
        let pool = db::pool(&settings.database_url, settings.db_pool_size);
        let (keys, secret_key) = prepare(&pool, &settings).await?;
        let keys = Arc::new(keys);
        let metrics = Arc::new(Metrics::new());
        let issuer = Arc::new(TokenIssuer::new(
            keys.clone(),
            &settings.issuer,
            settings.access_token_ttl,
            settings.refresh_token_ttl,
            metrics.clone(),
        ));
        let mailer = crate::mail::Mailer::start(&settings.mail, metrics.clone())?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let settings = Arc::new(settings);
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            clients: ClientAuth::start(&settings.database_url),
            writes: Writes::start(&settings.database_url, &pool),
            settings: settings.clone(),
            keys: keys.clone(),
            issuer,
            hashes: HashLimiter::new(cores),
            metrics,
            providers: Providers::new(&settings.providers),
            mailer: mailer.clone(),
            secret_key,
        });
        state.clients.write_upgrades_with(state.writes.clone());
        spawn_key_reloader(
            pool,
            state.writes.clone(),
            keys,
            KeyRotation::of(&settings),
            settings.secret_key.clone(),
        );
        crate::janitor::spawn(state.clone());

        let server = HttpServer::new(move || {
            let metrics = state.metrics.clone();
            App::new()
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::invalid_request(format!("Bad query string: {e}.")).into()
                }))
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|e, _| ApiError::invalid_request(format!("Bad path: {e}.")).into()),
                )
                .wrap_fn(move |req, srv| {
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let metrics = metrics.clone();
                    let response = srv.call(req);
                    async move {
                        let response = response.await?;
                        let endpoint =
                            response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                        let status = response.status().as_u16();
                        metrics.observe_request(&endpoint, &method, status, started.elapsed().as_secs_f64());
                        Ok(response)
                    }
                })
                .wrap(cors(&state.settings.cors_origins))
                .wrap_fn(|req, srv| {
                    let response = srv.call(req);
                    async move { Ok(cors_refusal_as_json(response.await?)) }
                })
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
                .wrap_fn(|mut req, srv| {
                    crate::clean_path::clean(&mut req);
                    srv.call(req)
                })
                .configure(routes::configure)
                .configure(crate::admin::configure)
                .default_service(web::to(routes::not_found))
        })
        .workers(settings.workers)
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        tracing::info!(address = %local, issuer = %settings.issuer, "portcullis listening");
        Ok(Self { port: local.port(), server, mailer })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests and queued mail.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        let left = self.mailer.drained(MAIL_DRAIN).await;
        if left > 0 {
            tracing::warn!(count = left, "stopped with mail not yet delivered; it is lost");
        }
        Ok(())
    }
}

/// actix-cors refuses an origin with a plain-text 400; SPEC §1 wants every error as JSON.
fn cors_refusal_as_json<B: MessageBody + 'static>(response: ServiceResponse<B>) -> ServiceResponse<BoxBody> {
    let refusal =
        response.response().error().and_then(|e| e.as_error::<CorsError>()).map(ToString::to_string);
    match refusal {
        Some(description) => response.error_response(ApiError::invalid_request(description)),
        None => response.map_into_boxed_body(),
    }
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([actix_web::http::header::AUTHORIZATION, actix_web::http::header::CONTENT_TYPE])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// When keys rotate by themselves (SPEC §14).
#[derive(Clone, Copy)]
struct KeyRotation {
    every_secs: i64,
    token_lifetime: i64,
}

impl KeyRotation {
    fn of(settings: &Settings) -> Self {
        Self { every_secs: settings.key_rotation_days * 86_400, token_lifetime: settings.access_token_ttl }
    }
}

/// Rotates the keys if they are due; whether it did.
fn rotate_keys_if_due(
    conn: &mut Writer<'_>,
    rotation: &KeyRotation,
    sealing: Option<&SecretString>,
) -> Result<bool, ApiError> {
    let reload = KEY_RELOAD_PERIOD.as_secs() as i64;
    let rotated = keys::rotate_if_due(conn, rotation.every_secs, rotation.token_lifetime, reload, sealing)?;
    if let Some(kids) = &rotated {
        tracing::info!(ed25519 = %kids[0], rsa = %kids[1], "signing keys rotated; they sign once published for a while");
        for kid in kids {
            crate::store::audit::record(
                conn,
                crate::store::audit::NewAuditEvent {
                    action: "signing_key.rotate",
                    target_type: "signing_key",
                    target_id: kid,
                    detail: "automatic",
                    ..Default::default()
                },
            )?;
        }
    }
    Ok(rotated.is_some())
}

/// Every `KEY_RELOAD_PERIOD`: rotates the keys if they are due, then re-reads the key
/// table, so a rotation here or elsewhere (`keys rotate`, another replica) reaches this
/// server's signing and verifying within a period.
fn spawn_key_reloader(
    pool: DbPool,
    writes: Writes,
    keys: Arc<KeyStore>,
    rotation: KeyRotation,
    sealing: Option<SecretString>,
) {
    actix_web::rt::spawn(async move {
        let mut ticker = actix_web::rt::time::interval(KEY_RELOAD_PERIOD);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let sealing = sealing.clone();
            if let Err(error) =
                writes.run(move |conn| rotate_keys_if_due(conn, &rotation, sealing.as_ref())).await
            {
                tracing::warn!(%error, "key rotation check failed");
            }
            let keys = keys.clone();
            if let Err(error) = db::run(&pool, move |conn| keys.reload(conn)).await {
                tracing::warn!(%error, "key reload failed");
            }
        }
    });
}
