//! A small actix-web service with health probes: an in-memory item store, a disk
//! check and a closure check.
//!
//! Run with
//!
//! ```sh
//! cargo run -p actix-web-service
//! curl -i localhost:8080/readyz
//! ```
//!
//! `BIND` (default `127.0.0.1`) and `PORT` (default `8080`) choose the address.
//! Logs are JSON lines on stdout (`READINESS_LOG_FORMAT=pretty` for a terminal,
//! `RUST_LOG=info,readiness=debug` style filters). Writes need
//! `Authorization: Bearer $API_TOKEN`: each write is an audit line, each refused
//! token a security line (and `security_events_total`); without `API_TOKEN` every
//! write is refused.
//! The `db` check uses an in-memory SQLite database, or PostgreSQL when
//! `DATABASE_URL` is set (connected lazily). SIGTERM or SIGINT shuts down gracefully
//! (`READINESS_SHUTDOWN_*` variables for the timings).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use readiness_actix::core::logging::{
    AuditEvent, LogWriter, Outcome, SecurityEvent, SecurityKind, Severity,
};
use readiness_actix::core::shutdown::Shutdown;
use readiness_actix::core::{checks, CheckOutcome, CheckSpec, Readiness};
use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// Items above this count make the store check warn: a stand-in for a real limit.
const STORE_SOFT_LIMIT: usize = 10_000;

#[derive(Clone, Default)]
struct Store(Arc<RwLock<BTreeMap<u64, Item>>>);

/// The bearer token writes need; `None` refuses every write.
#[derive(Clone)]
struct ApiToken(Option<Arc<str>>);

#[derive(Clone, Serialize)]
struct Item {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct NewItem {
    name: String,
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `ops-kit DIR`: Prometheus rules, a Grafana dashboard and Kubernetes manifests
    // for this service, from the metric names it emits.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("ops-kit") {
        let dir = args.get(1).ok_or("usage: ops-kit DIR")?;
        return write_ops_kit(dir);
    }
    let store = Store::default();
    let probe = store.clone();
    let db = Database::from_env()?;
    let readiness = Readiness::builder()
        .service("actix-service", env!("CARGO_PKG_VERSION"))
        .description("example item store")
        .check(
            checks::disk_free_percent(".", 10.0, 5.0)
                .liveness()
                .readiness(),
        )
        .check(
            checks::from_fn("store", move || {
                let probe = probe.clone();
                async move {
                    let Ok(items) = probe.0.read() else {
                        return CheckOutcome::fail("store lock poisoned");
                    };
                    if items.len() > STORE_SOFT_LIMIT {
                        CheckOutcome::warn("store above its soft limit")
                    } else {
                        CheckOutcome::pass()
                    }
                }
            })
            .interval(Duration::from_secs(5)),
        )
        .check(db.check().name("db"))
        .build()?;

    // JSON lines through a non-blocking writer; the guard flushes them at exit.
    let token = std::env::var("API_TOKEN").ok().filter(|t| !t.is_empty());
    let (writer, log_guard) = LogWriter::stdout().build()?;
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let logs = readiness
        .log_settings()
        .secret_values(token.clone()) // never in a line, whatever field it lands in
        .build_with_writer(&writer)?;
    // Spans with trace ids for every log line; exported over OTLP when
    // OTEL_EXPORTER_OTLP_ENDPOINT is set (and the other OTEL_* variables).
    let (otel, otel_guard) = readiness.telemetry()?.build()?;
    tracing_subscriber::registry()
        .with(otel.with_filter(filter.clone()))
        .with(logs.with_filter(filter))
        .init();
    if token.is_none() {
        tracing::warn!("API_TOKEN is not set: every write is refused");
    }
    let token = ApiToken(token.map(Arc::from));

    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1".into());
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "8080".into())
        .parse()?;
    let health = readiness_actix::configure(&readiness);
    let observe = readiness_actix::Observe::new(&readiness);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(observe.clone())
            .app_data(web::Data::new(store.clone()))
            .app_data(web::Data::new(token.clone()))
            .route("/items", web::get().to(list_items))
            .route("/items", web::post().to(create_item))
            .route("/items/{id}", web::get().to(get_item))
            .route("/slow/{ms}", web::get().to(slow))
            .configure(health.clone())
    })
    // The shutdown below handles the signals, with a drain delay actix does not have.
    .disable_signals()
    .bind((bind.as_str(), port))?;
    for addr in server.addrs() {
        tracing::info!(address = %addr, "listening");
    }
    // SIGTERM or SIGINT: readiness fails at once, the server goes on serving for the
    // drain delay, stops accepting, lets requests in flight finish, then the hooks
    // run in order.
    let shutdown = Shutdown::builder(&readiness)
        .from_env()?
        .hook(
            "close database",
            Duration::from_secs(2),
            move || async move {
                db.close().await;
                Ok(())
            },
        )
        .flush_telemetry(otel_guard, Duration::from_secs(2))
        .flush_logs(log_guard)
        .build()?;
    let outcome = readiness_actix::run(server.run(), shutdown).await;
    std::process::exit(outcome.exit_code());
}

/// The database behind the `db` check: PostgreSQL when `DATABASE_URL` is set, else
/// an in-memory SQLite database. Connects lazily.
enum Database {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Database {
    fn from_env() -> Result<Self, sqlx::Error> {
        Ok(match std::env::var("DATABASE_URL") {
            Ok(url) => Self::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(10)
                    .connect_lazy(&url)?,
            ),
            Err(_) => Self::Sqlite(sqlx::SqlitePool::connect_lazy("sqlite::memory:")?),
        })
    }

    fn check(&self) -> CheckSpec {
        match self {
            Self::Postgres(pool) => checks::postgres(pool.clone()),
            Self::Sqlite(pool) => checks::sqlite(pool.clone()),
        }
    }

    /// Closes the pool's connections (a shutdown hook).
    async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

/// A request that takes `ms` milliseconds (at most a minute): to watch a graceful
/// shutdown let it finish.
async fn slow(ms: web::Path<u64>) -> String {
    let ms = ms.into_inner();
    actix_web::rt::time::sleep(Duration::from_millis(ms.min(60_000))).await;
    format!("slept {ms} ms")
}

async fn list_items(store: web::Data<Store>) -> HttpResponse {
    let items = store.0.read().unwrap_or_else(|e| e.into_inner());
    HttpResponse::Ok().json(items.values().cloned().collect::<Vec<_>>())
}

async fn get_item(store: web::Data<Store>, id: web::Path<u64>) -> HttpResponse {
    let items = store.0.read().unwrap_or_else(|e| e.into_inner());
    match items.get(&id) {
        Some(item) => HttpResponse::Ok().json(item),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn create_item(
    request: HttpRequest,
    store: web::Data<Store>,
    token: web::Data<ApiToken>,
    new: web::Json<NewItem>,
) -> Result<HttpResponse, actix_web::Error> {
    authorize(&request, token.0.as_deref(), "/items")?;
    let item = {
        let mut items = store.0.write().unwrap_or_else(|e| e.into_inner());
        let id = items.keys().next_back().map_or(1, |last| last + 1);
        let item = Item {
            id,
            name: new.into_inner().name,
        };
        items.insert(id, item.clone());
        item
    };
    let mut audit = AuditEvent::new("api-client", "create", "item", Outcome::Success);
    let id = item.id.to_string();
    audit = audit.resource_id(&id);
    if let Some(peer) = request.peer_addr() {
        audit = audit.source_ip(peer.ip());
    }
    audit.emit();
    Ok(HttpResponse::Created().json(item))
}

/// Checks `Authorization: Bearer TOKEN`; a missing or wrong token is a security
/// event and a 401.
fn authorize(
    request: &HttpRequest,
    token: Option<&str>,
    resource: &str,
) -> Result<(), actix_web::Error> {
    let sent = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let reason = match (sent, token) {
        (Some(sent), Some(token)) if same(sent.as_bytes(), token.as_bytes()) => return Ok(()),
        (None, _) => "no bearer token",
        (Some(_), None) => "writes are disabled (no API_TOKEN)",
        (Some(_), Some(_)) => "wrong bearer token",
    };
    let mut event = SecurityEvent::new(SecurityKind::AuthenticationFailure, Severity::Medium)
        .resource(resource)
        .reason(reason);
    if let Some(peer) = request.peer_addr() {
        event = event.source_ip(peer.ip());
    }
    event.emit();
    Err(actix_web::error::ErrorUnauthorized(
        "a valid bearer token is needed",
    ))
}

/// Compares without stopping at the first difference, so the time taken does not
/// tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes the operations kit for this service into `dir`.
fn write_ops_kit(dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    let readiness = Readiness::builder()
        .service("actix-service", env!("CARGO_PKG_VERSION"))
        .system_metrics(false)
        .build()?;
    let kit = readiness_actix::core::ops::OpsKit::builder(&readiness)
        .image(concat!("actix-service:", env!("CARGO_PKG_VERSION")))
        .env("BIND", "0.0.0.0")
        .env("PORT", "8080")
        .build()?;
    for path in kit.write_to(dir)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
