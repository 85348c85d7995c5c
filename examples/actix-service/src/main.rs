//! A small actix-web service with health probes: an item store in SQLite or PostgreSQL, a disk
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
//! (`READINESS_SHUTDOWN_*` variables for the timings). Each write is recorded first in
//! a tamper-evident audit trail (`AUDIT_TRAIL`, `AUDIT_DURABILITY`, `AUDIT_SIGNING_KEY`;
//! see `audit.rs`), checked with `cargo run -- audit-verify audit-trail.jsonl`.
//! HTTP/1.1 and HTTP/2 without TLS (h2c, prior knowledge) share the port; `/ws` is a
//! WebSocket echo that gets a close frame when a shutdown starts to drain.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use readiness_actix::core as readiness;
use readiness_actix::core::logging::{AuditEvent, Outcome, SecurityEvent, SecurityKind, Severity};
use readiness_actix::core::{checks, Readiness, Setup};
use serde::Deserialize;
use store::{Store, Unavailable};

mod audit;
mod store;

/// The bearer token writes need; `None` refuses every write.
#[derive(Clone)]
struct ApiToken(Option<Arc<str>>);

/// The open WebSockets, each holding a read guard.
#[derive(Clone, Default)]
struct Sockets(Arc<tokio::sync::RwLock<()>>);

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
        .service("actix-service", env!("CARGO_PKG_VERSION"))
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
    let token = ApiToken(token.map(Arc::from));

    store.migrate_in_background().await;
    // Every write is recorded here before it is kept.
    let trail = audit::from_env(&readiness).await?;
    integrity.watch(&trail);

    // SIGTERM or SIGINT: readiness fails at once, the server goes on serving for the
    // drain delay, stops accepting, lets requests in flight finish, then these hooks
    // run in order, and the spans and log lines are flushed last.
    // Read-held by each open WebSocket: the shutdown hook that takes it for writing
    // waits for their closing handshakes.
    let sockets = Sockets::default();
    let service = service
        // The WebSockets got a close frame as the drain started (the drain waits
        // for them as for any request in flight); any still open are waited for
        // here (up to this deadline), as in the axum example.
        .hook("close websockets", Duration::from_secs(2), {
            let sockets = Arc::clone(&sockets.0);
            move || async move {
                let _all_closed = sockets.write().await;
                Ok(())
            }
        })
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
    // Health routes, /metrics and RED metrics for every route below, on BIND:PORT
    // (HTTP/1.1 and h2c: readiness-actix's `http2` feature).
    let outcome = readiness_actix::serve_app(service, move || {
        App::new()
            .app_data(web::Data::new(readiness.clone()))
            .app_data(web::Data::new(sockets.clone()))
            .app_data(web::Data::new(store.clone()))
            .app_data(web::Data::new(token.clone()))
            .app_data(web::Data::new(trail.clone()))
            .route("/items", web::get().to(list_items))
            .route("/items", web::post().to(create_item))
            .route("/items/{id}", web::get().to(get_item))
            .route("/slow/{ms}", web::get().to(slow))
            .route("/ws", web::get().to(echo))
    })
    .await?;
    std::process::exit(outcome.exit_code());
}

/// A request that takes `ms` milliseconds (at most a minute): to watch a graceful
/// shutdown let it finish.
async fn slow(ms: web::Path<u64>) -> String {
    let ms = ms.into_inner();
    actix_web::rt::time::sleep(Duration::from_millis(ms.min(60_000))).await;
    format!("slept {ms} ms")
}

/// A WebSocket that echoes each message it is sent.
async fn echo(
    request: HttpRequest,
    body: web::Payload,
    readiness: web::Data<Readiness>,
    sockets: web::Data<Sockets>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, session, messages) = actix_ws::handle(&request, body)?;
    // This one closes itself when the shutdown stops accepting, so its client
    // hears a close frame (1001, going away) and reconnects elsewhere.
    let draining = readiness.draining();
    // Held until the socket is done; none once the shutdown's hook waits.
    let open = Arc::clone(&sockets.0).try_read_owned().ok();
    actix_web::rt::spawn(async move {
        echo_until_draining(session, messages, draining).await;
        drop(open);
    });
    Ok(response)
}

async fn echo_until_draining(
    mut session: Session,
    mut messages: MessageStream,
    draining: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(draining);
    loop {
        tokio::select! {
            () = &mut draining => break,
            message = messages.recv() => {
                let sent = match message {
                    Some(Ok(Message::Text(text))) => session.text(text).await,
                    Some(Ok(Message::Binary(bytes))) => session.binary(bytes).await,
                    Some(Ok(Message::Ping(bytes))) => session.pong(&bytes).await,
                    Some(Ok(Message::Pong(_) | Message::Continuation(_) | Message::Nop)) => Ok(()),
                    // The client closes: its close frame is answered with its code.
                    Some(Ok(Message::Close(reason))) => {
                        let _ = session.close(reason).await;
                        return;
                    }
                    Some(Err(_)) | None => return,
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
    let reason = CloseReason {
        code: CloseCode::Away,
        description: Some("shutting down".into()),
    };
    // The response (the frames out) ends once every handle to the session is gone,
    // and the connection with it: a handle is kept until the client's reply.
    let open = session.clone();
    if session.close(Some(reason)).await.is_err() {
        return;
    }
    // The closing handshake (RFC 6455, 7.1.2): the client answers with a close
    // frame of its own; its answer, or a second, ends the wait.
    let replied = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
        while let Some(Ok(message)) = messages.recv().await {
            if matches!(message, Message::Close(_)) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    drop(open);
    tracing::info!(code = 1001, replied, "websocket closed");
}

/// How long a WebSocket closed by the shutdown waits for its client's close frame.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// A database that fails is the service's problem, told as a 503 (the request
/// may be retried), and logged.
fn unavailable(Unavailable(error): Unavailable) -> actix_web::Error {
    tracing::error!(error = %error, "database query failed");
    actix_web::error::ErrorServiceUnavailable("database unavailable")
}

async fn list_items(store: web::Data<Store>) -> Result<HttpResponse, actix_web::Error> {
    let items = store.list().await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(items))
}

async fn get_item(
    store: web::Data<Store>,
    id: web::Path<i64>,
) -> Result<HttpResponse, actix_web::Error> {
    Ok(
        match store.get(id.into_inner()).await.map_err(unavailable)? {
            Some(item) => HttpResponse::Ok().json(item),
            None => HttpResponse::NotFound().finish(),
        },
    )
}

async fn create_item(
    request: HttpRequest,
    store: web::Data<Store>,
    token: web::Data<ApiToken>,
    trail: web::Data<readiness::audit::AuditTrail>,
    new: web::Json<NewItem>,
) -> Result<HttpResponse, actix_web::Error> {
    authorize(&request, token.0.as_deref(), "/items")?;
    let peer = request.peer_addr().map(|peer| peer.ip());
    // The item is kept only once its audit record and its audit line are written (in the
    // `blocking-strict` mode; the other modes never refuse).
    let created = store
        .create_then(&new.name, |item| {
            let id = item.id.to_string();
            let trail = trail.get_ref().clone();
            async move {
                let mut event = AuditEvent::new("api-client", "create", "item", Outcome::Success)
                    .resource_id(&id);
                if let Some(ip) = peer {
                    event = event.source_ip(ip);
                }
                audit::record(&trail, event).await
            }
        })
        .await
        .map_err(unavailable)?;
    match created {
        Ok(item) => Ok(HttpResponse::Created().json(item)),
        Err(error) => {
            tracing::error!(error = %error, "write refused: its audit record could not be written");
            Err(actix_web::error::ErrorServiceUnavailable(
                "the audit trail is unavailable",
            ))
        }
    }
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
    // The timings of the shutdown `main` runs, stated once.
    let shutdown = readiness.shutdown().signals(false).from_env()?.build()?;
    let kit = readiness
        .ops_kit()
        .shutdown(&shutdown)
        .binary(env!("CARGO_BIN_NAME"))
        .image(concat!("actix-service:", env!("CARGO_PKG_VERSION")))
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
