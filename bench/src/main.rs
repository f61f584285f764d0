//! Load driver for OAuth servers with the drf-social-oauth2 API. It speaks only HTTP, so
//! it can measure Portcullis or drf-social-oauth2 itself. One JSON line per scenario.

mod fake;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use fake::FakeIds;
use stats::{rss_mb, us_per_request, CpuTicks, Latencies};

const SCENARIOS: [&str; 8] = [
    "password",
    "refresh",
    "client_credentials",
    "convert_google_id",
    "convert_google_access",
    "convert_facebook",
    "userinfo",
    "introspect",
];

#[derive(Parser, Clone)]
#[command(name = "portcullis-bench", about = "HTTP load driver for drf-social-oauth2-style servers")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    base_url: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: Option<String>,
    /// Email or username of an existing user with a password.
    #[arg(long)]
    user: String,
    #[arg(long)]
    password: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Comma-separated scenarios, or `all`.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// The server's pid, to report its peak resident memory during each scenario.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The command name of a database server on this machine (e.g. `postgres`), to report
    /// the CPU its processes spend per request.
    #[arg(long)]
    database_process: Option<String>,
    /// A label copied into every output line (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
    /// Serve fake Google/Facebook endpoints here (the server's provider URLs must point at them).
    #[arg(long)]
    fake_providers: Option<String>,
    #[arg(long, default_value = "bench-web.apps.googleusercontent.com")]
    google_client_id: String,
    #[arg(long, default_value = "1000")]
    facebook_app_id: String,
    /// Also print one argon2id verification time measured here, for the password target.
    #[arg(long)]
    argon2_reference: bool,
    /// Exit non-zero if any request failed (the CI smoke check).
    #[arg(long)]
    fail_on_errors: bool,
}

struct Ctx {
    args: Args,
    http: reqwest::Client,
    ids: FakeIds,
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.args.base_url.trim_end_matches('/'))
    }

    fn client_params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("client_id", self.args.client_id.clone())];
        if let Some(secret) = &self.args.client_secret {
            params.push(("client_secret", secret.clone()));
        }
        params
    }

    async fn post(&self, path: &str, mut params: Vec<(&'static str, String)>) -> Result<Value, String> {
        params.extend(self.client_params());
        let response =
            self.http.post(self.url(path)).form(&params).send().await.map_err(|e| e.to_string())?;
        read(response).await
    }

    async fn sign_in(&self) -> Result<Value, String> {
        self.post(
            "/auth/token",
            vec![
                ("grant_type", "password".into()),
                ("username", self.args.user.clone()),
                ("password", self.args.password.clone()),
            ],
        )
        .await
    }
}

async fn read(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn field(value: &Value, key: &str) -> Result<String, String> {
    value[key].as_str().map(str::to_owned).ok_or_else(|| format!("no {key} in {value}"))
}

/// Per-connection state a scenario carries from one request to the next.
struct Worker {
    index: usize,
    refresh_token: String,
    access_token: String,
    id_token: String,
}

async fn one_request(ctx: &Ctx, scenario: &str, w: &mut Worker) -> Result<(), String> {
    match scenario {
        "password" => ctx.sign_in().await.map(drop),
        "refresh" => {
            let body = ctx
                .post(
                    "/auth/token",
                    vec![("grant_type", "refresh_token".into()), ("refresh_token", w.refresh_token.clone())],
                )
                .await?;
            w.refresh_token = field(&body, "refresh_token")?;
            Ok(())
        }
        "client_credentials" => {
            ctx.post("/auth/token", vec![("grant_type", "client_credentials".into())]).await.map(drop)
        }
        "convert_google_id" => convert(ctx, "google-oauth2", w.id_token.clone()).await,
        "convert_google_access" => convert(ctx, "google-oauth2", format!("bench-access-{}", w.index)).await,
        "convert_facebook" => convert(ctx, "facebook", format!("bench-fb-{}", w.index)).await,
        "userinfo" => {
            let response = ctx
                .http
                .get(ctx.url("/auth/user"))
                .bearer_auth(&w.access_token)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            read(response).await.map(drop)
        }
        "introspect" => {
            let body = ctx.post("/auth/introspect", vec![("token", w.access_token.clone())]).await?;
            if body["active"] == true {
                Ok(())
            } else {
                Err(format!("token not active: {body}"))
            }
        }
        other => Err(format!("unknown scenario {other}")),
    }
}

async fn convert(ctx: &Ctx, backend: &str, token: String) -> Result<(), String> {
    ctx.post(
        "/auth/convert-token",
        vec![("grant_type", "convert_token".into()), ("backend", backend.into()), ("token", token)],
    )
    .await
    .map(drop)
}

/// State every worker of `scenario` starts from; sign-ins happen before the clock starts.
async fn prepare(ctx: &Ctx, scenario: &str, shared_access: &str, index: usize) -> Result<Worker, String> {
    let mut worker = Worker {
        index,
        refresh_token: String::new(),
        access_token: shared_access.to_owned(),
        id_token: String::new(),
    };
    match scenario {
        "refresh" => worker.refresh_token = field(&ctx.sign_in().await?, "refresh_token")?,
        "convert_google_id" => {
            worker.id_token = fake::google_id_token(&ctx.ids, &format!("bench-id-{index}"))
        }
        _ => {}
    }
    Ok(worker)
}

async fn run_scenario(ctx: Arc<Ctx>, scenario: &'static str) -> Result<Value, String> {
    let shared = ctx.sign_in().await?;
    let access = field(&shared, "access_token")?;
    let mut workers = Vec::new();
    for index in 0..ctx.args.concurrency {
        workers.push(prepare(&ctx, scenario, &access, index).await?);
    }

    let idle_rss = ctx.args.server_pid.and_then(rss_mb);
    let peak = Arc::new(Mutex::new(idle_rss.unwrap_or(0.0)));
    let started = Instant::now();
    let cpu_before = CpuTicks::now(ctx.args.server_pid, ctx.args.database_process.as_deref());
    let deadline = started + Duration::from_secs_f64(ctx.args.duration);
    let sampler = ctx.args.server_pid.map(|pid| {
        let peak = peak.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                if let Some(rss) = rss_mb(pid) {
                    let mut p = peak.lock().await;
                    *p = p.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });

    let mut tasks = Vec::new();
    for mut worker in workers {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let outcome = one_request(&ctx, scenario, &mut worker).await;
                latencies.record(sent.elapsed());
                if let Err(e) = outcome {
                    errors += 1;
                    first_error.get_or_insert(e);
                    if scenario == "refresh" {
                        // Start a new chain so one failure does not fail every later request.
                        if let Ok(w) = prepare(&ctx, scenario, "", worker.index).await {
                            worker.refresh_token = w.refresh_token;
                        }
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut latencies = Latencies::default();
    let mut errors = 0;
    for task in tasks {
        let (l, e, first) = task.await.map_err(|e| e.to_string())?;
        if let Some(first) = first {
            eprintln!("{scenario}: {first}");
        }
        latencies.merge(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = CpuTicks::now(ctx.args.server_pid, ctx.args.database_process.as_deref());
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    let requests = latencies.len() as u64;
    let cpu = |pick: fn(&CpuTicks) -> Option<u64>| match (cpu_before.as_ref(), cpu_after.as_ref()) {
        (Some(b), Some(a)) => Some(round(us_per_request(pick(b)?, pick(a)?, requests))),
        _ => None,
    };
    Ok(json!({
        "scenario": scenario,
        "label": ctx.args.label,
        "concurrency": ctx.args.concurrency,
        "duration_s": round(elapsed),
        "requests": requests,
        "errors": errors,
        "rps": round(requests as f64 / elapsed),
        "p50_ms": round(latencies.percentile_ms(50.0)),
        "p90_ms": round(latencies.percentile_ms(90.0)),
        "p99_ms": round(latencies.percentile_ms(99.0)),
        "cpu_us_per_request": cpu(|t| Some(t.machine)),
        "server_cpu_us_per_request": cpu(|t| t.server),
        "driver_cpu_us_per_request": cpu(|t| t.driver),
        "database_cpu_us_per_request": cpu(|t| t.database),
        "idle_rss_mb": idle_rss.map(round),
        "peak_rss_mb": ctx.args.server_pid.map(|_| peak.try_lock().map(|p| round(*p)).unwrap_or(0.0)),
    }))
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Mean time of one argon2id verification (OWASP parameters, as the server uses) on
/// this machine: the password scenario's ceiling is cores divided by it.
fn argon2_reference() -> Value {
    use argon2::password_hash::{
        rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
    };
    let params = argon2::Params::new(19 * 1024, 2, 1, None).expect("params");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let hash =
        argon.hash_password(b"bench password", &SaltString::generate(&mut OsRng)).expect("hash").to_string();
    let parsed = PasswordHash::new(&hash).expect("parse");
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        argon.verify_password(b"bench password", &parsed).expect("verify");
    }
    let verify_s = started.elapsed().as_secs_f64() / f64::from(rounds);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    json!({
        "scenario": "argon2_reference",
        "verify_ms": round(verify_s * 1000.0),
        "cores": cores,
        "ceiling_rps": round(cores as f64 / verify_s),
    })
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let scenarios: Vec<&'static str> = if args.scenario == "all" {
        SCENARIOS.to_vec()
    } else {
        let mut chosen = Vec::new();
        for name in args.scenario.split(',').map(str::trim) {
            match SCENARIOS.iter().find(|s| **s == name) {
                Some(s) => chosen.push(*s),
                None => {
                    eprintln!("unknown scenario {name}; known: {}", SCENARIOS.join(", "));
                    std::process::exit(2);
                }
            }
        }
        chosen
    };
    let ids = FakeIds {
        google_client_id: args.google_client_id.clone(),
        facebook_app_id: args.facebook_app_id.clone(),
    };
    if let Some(bind) = &args.fake_providers {
        if let Err(e) = fake::start(bind, ids.clone()) {
            eprintln!("cannot serve fake providers on {bind}: {e}");
            std::process::exit(2);
        }
    }
    if args.argon2_reference {
        println!("{}", tokio::task::spawn_blocking(argon2_reference).await.expect("argon2 reference"));
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    let fail_on_errors = args.fail_on_errors;
    let ctx = Arc::new(Ctx { args, http, ids });
    let mut failed = false;
    for scenario in scenarios {
        match run_scenario(ctx.clone(), scenario).await {
            Ok(line) => {
                failed |= line["errors"].as_u64() != Some(0);
                println!("{line}");
            }
            Err(e) => {
                failed = true;
                println!("{}", json!({ "scenario": scenario, "label": ctx.args.label, "setup_error": e }));
            }
        }
    }
    if failed && fail_on_errors {
        std::process::exit(1);
    }
}
