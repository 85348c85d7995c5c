//! A small axum service with health probes: an item store in SQLite or PostgreSQL, a disk check
//! and a closure check.
//!
//! Run with
//!
//! ```sh
//! cargo run -p axum-service
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
//! `DATABASE_URL` is set; `REDIS_URL` adds a non-critical `cache` check. Pools connect
//! lazily: the service starts even while its database is down, with `/livez` passing
//! and `/readyz` failing until the database answers. Each write is recorded first in
//! a tamper-evident audit trail (`AUDIT_TRAIL`, `AUDIT_DURABILITY`, `AUDIT_SIGNING_KEY`;
//! see `audit.rs`), checked with `cargo run -- audit-verify audit-trail.jsonl`.
//! HTTP/1.1 and HTTP/2 without TLS (h2c, prior knowledge) share the port; `/ws` is a
//! WebSocket echo that gets a close frame when a shutdown starts to drain.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use readiness_axum::core as readiness;
use readiness_axum::core::logging::{AuditEvent, Outcome, SecurityEvent, SecurityKind, Severity};
use readiness_axum::core::{checks, Readiness, Setup};
use serde::Deserialize;
use store::{Item, Store, Unavailable};

mod audit;
mod store;

#[derive(Clone)]
struct AppState {
    store: Store,
    /// Every write is recorded here before it is kept.
    trail: readiness::audit::AuditTrail,
    /// The bearer token writes need; `None` refuses every write.
    token: Option<Arc<str>>,
    /// Tells the WebSockets when the shutdown drains.
    readiness: Readiness,
    /// Read-held by each open WebSocket: the shutdown hook that takes it for
    /// writing waits for their closing handshakes.
    sockets: Arc<tokio::sync::RwLock<()>>,
}

#[derive(Deserialize)]
struct NewItem {
    name: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `ops-kit DIR`: Prometheus rules, a Grafana dashboard and Kubernetes manifests
    // for this service, from the metric names it emits.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("ops-kit") {
        let dir = args.get(1).ok_or("usage: ops-kit DIR")?;
        return write_ops_kit(dir);
    }
    if args.first().map(String::as_str) == Some("audit-verify") {
        std::process::exit(audit::verify_command(&args[1..]).await);
    }
    // `healthcheck`: exit 0 when this service's /readyz passes, for a container's
    // HEALTHCHECK in an image without curl.
    if args.first().map(String::as_str) == Some("healthcheck") {
        let bind = std::env::var("BIND").ok().and_then(|b| b.parse().ok());
        let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok());
        let bind = bind.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        std::process::exit(readiness::endpoint::healthcheck(bind, port.unwrap_or(8080)));
    }
    let store = Store::from_env()?;
    let mut builder = Readiness::builder()
        .service("axum-service", env!("CARGO_PKG_VERSION"))
        .description("example item store")
        .check(
            // Readiness (the default) and liveness: a full disk takes the service
            // out of traffic and, if it stays full, restarts it.
            checks::disk_free_percent(".", 10.0, 5.0).also_liveness(),
        );
    for check in store.checks() {
        builder = builder.check(check);
    }
    // The audit trail's live integrity check, handed the trail once it is open.
    let integrity = audit::Integrity::default();
    builder = builder.check(integrity.check());
    // An upstream this service depends on, when configured: a non-critical check.
    if let Ok(url) = std::env::var("UPSTREAM_URL") {
        builder = builder.check(checks::http_get(url).name("upstream").non_critical());
    }
    // Operators see every check's output with `Authorization: Bearer $HEALTH_DETAILS_TOKEN`.
    if let Ok(token) = std::env::var("HEALTH_DETAILS_TOKEN") {
        builder = builder.details_token(token);
    }
    let readiness = builder.build()?;
    // Cache, pool and migration metrics, at zero until something happens.
    store.measure_in(&readiness)?;

    // JSON lines on stdout through a non-blocking writer, filtered by RUST_LOG;
    // spans with trace ids for every line, exported over OTLP when
    // OTEL_EXPORTER_OTLP_ENDPOINT is set; the shutdown's timings from
    // READINESS_SHUTDOWN_*, the address from BIND and PORT. Installed once, here.
    let token = std::env::var("API_TOKEN").ok().filter(|t| !t.is_empty());
    let service = Setup::from_env(&readiness)?
        // Never in a line, whatever field it lands in.
        .log_settings(|logs| logs.secret_values(token.clone()))
        .init()?;
    if token.is_none() {
        tracing::warn!("API_TOKEN is not set: every write is refused");
    }

    store.migrate_in_background().await;
    let trail = audit::from_env(&readiness).await?;
    integrity.watch(&trail);
    let state = AppState {
        store: store.clone(),
        trail: trail.clone(),
        token: token.map(Arc::from),
        readiness: readiness.clone(),
        sockets: Arc::default(),
    };
    let sockets = Arc::clone(&state.sockets);
    let app = Router::new()
        .route("/items", get(list_items).post(create_item))
        .route("/items/{id}", get(get_item))
        .route("/slow/{ms}", get(slow))
        .route("/ws", get(echo))
        .with_state(state);

    // SIGTERM or SIGINT: readiness fails at once, the server goes on serving for the
    // drain delay, stops accepting, lets requests in flight finish, then these hooks
    // run in order, and the spans and log lines are flushed last.
    let service = service
        // The WebSockets got a close frame as the drain started; their clients'
        // replies come in while the requests in flight finish, or here: the
        // process does not exit before every socket is done (or this deadline).
        .hook(
            "close websockets",
            Duration::from_secs(2),
            move || async move {
                let _all_closed = sockets.write().await;
                Ok(())
            },
        )
        // What is queued for the audit trail is written, and a checkpoint after it.
        .hook("checkpoint audit trail", Duration::from_secs(2), {
            let trail = trail.clone();
            move || async move {
                trail.checkpoint().await?;
                Ok(())
            }
        })
        .hook("close database", Duration::from_secs(2), {
            let store = store.clone();
            move || async move {
                store.close().await;
                Ok(())
            }
        });
    // Health routes, /metrics and RED metrics for every route above, on BIND:PORT.
    let outcome = readiness_axum::serve_app(service, app).await?;
    std::process::exit(outcome.exit_code());
}

/// A request that takes `ms` milliseconds (at most a minute): to watch a graceful
/// shutdown let it finish.
async fn slow(Path(ms): Path<u64>) -> String {
    tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
    format!("slept {ms} ms")
}

/// A WebSocket that echoes each message it is sent.
async fn echo(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    // The server's drain does not wait for an upgraded connection: this one
    // closes itself when the shutdown stops accepting, so its client hears a
    // close frame (1001, going away) and reconnects elsewhere.
    let draining = state.readiness.draining();
    // Held until the socket is done; none once the shutdown's hook waits (the
    // socket then closes at once, as the drain has started).
    let open = Arc::clone(&state.sockets).try_read_owned().ok();
    ws.on_upgrade(move |socket| async move {
        echo_until_draining(socket, draining).await;
        drop(open);
    })
}

async fn echo_until_draining(
    mut socket: WebSocket,
    draining: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(draining);
    loop {
        tokio::select! {
            () = &mut draining => break,
            message = socket.recv() => match message {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    if socket.send(message).await.is_err() {
                        return;
                    }
                }
                // Pings, and a client's close frame, are answered by the socket itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            }
        }
    }
    let frame = CloseFrame {
        code: close_code::AWAY,
        reason: "shutting down".into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    // The closing handshake (RFC 6455, 7.1.2): the client answers with a close
    // frame of its own; its answer, or a second, ends the wait. Then the socket
    // is dropped, which closes the connection.
    let replied = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    tracing::info!(code = 1001, replied, "websocket closed");
}

/// How long a WebSocket closed by the shutdown waits for its client's close frame.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// A database that fails is the service's problem, told as a 503 (the request
/// may be retried), and logged.
fn unavailable(Unavailable(error): Unavailable) -> StatusCode {
    tracing::error!(error = %error, "database query failed");
    StatusCode::SERVICE_UNAVAILABLE
}

async fn list_items(State(state): State<AppState>) -> Result<Json<Vec<Item>>, StatusCode> {
    state.store.list().await.map(Json).map_err(unavailable)
}

async fn get_item(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Item>, StatusCode> {
    match state.store.get(id).await.map_err(unavailable)? {
        Some(item) => Ok(Json(item)),
        None => Err(StatusCode::NOT_FOUND),
    }
}

async fn create_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<Item>), StatusCode> {
    authorize(&headers, state.token.as_deref(), "/items")?;
    // The item is kept only once its audit record and its audit line are written (in the
    // `blocking-strict` mode; the other modes never refuse).
    let created = state
        .store
        .create_then(&new.name, |item| {
            let id = item.id.to_string();
            let trail = state.trail.clone();
            async move {
                let event = AuditEvent::new("api-client", "create", "item", Outcome::Success)
                    .resource_id(&id);
                audit::record(&trail, event).await
            }
        })
        .await
        .map_err(unavailable)?;
    match created {
        Ok(item) => Ok((StatusCode::CREATED, Json(item))),
        Err(error) => {
            tracing::error!(error = %error, "write refused: its audit record could not be written");
            Err(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// Checks `Authorization: Bearer TOKEN`; a missing or wrong token is a security
/// event and a 401.
fn authorize(headers: &HeaderMap, token: Option<&str>, resource: &str) -> Result<(), StatusCode> {
    let sent = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let reason = match (sent, token) {
        (Some(sent), Some(token)) if same(sent.as_bytes(), token.as_bytes()) => return Ok(()),
        (None, _) => "no bearer token",
        (Some(_), None) => "writes are disabled (no API_TOKEN)",
        (Some(_), Some(_)) => "wrong bearer token",
    };
    SecurityEvent::new(SecurityKind::AuthenticationFailure, Severity::Medium)
        .resource(resource)
        .reason(reason)
        .emit();
    Err(StatusCode::UNAUTHORIZED)
}

/// Compares without stopping at the first difference, so the time taken does not
/// tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes the operations kit for this service into `dir`.
fn write_ops_kit(dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    let readiness = Readiness::builder()
        .service("axum-service", env!("CARGO_PKG_VERSION"))
        .system_metrics(false)
        .build()?;
    // The timings of the shutdown `main` runs, stated once.
    let shutdown = readiness.shutdown().signals(false).from_env()?.build()?;
    let kit = readiness
        .ops_kit()
        .shutdown(&shutdown)
        .binary(env!("CARGO_BIN_NAME"))
        .image(concat!("axum-service:", env!("CARGO_PKG_VERSION")))
        .env("BIND", "0.0.0.0")
        .env("PORT", "8080")
        // The root filesystem is read-only: the audit trail gets a directory of
        // its own (for a trail that outlives the pod, AUDIT_TRAIL=postgres).
        .writable_dir("/var/lib/audit")
        .env("AUDIT_TRAIL", "/var/lib/audit/audit-trail.jsonl")
        .build()?;
    for path in kit.write_to(dir)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}
