//! A small axum service with health probes: an in-memory item store, a disk check
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
//! The `db` check uses an in-memory SQLite database, or PostgreSQL when
//! `DATABASE_URL` is set; `REDIS_URL` adds a non-critical `cache` check. Pools connect
//! lazily: the service starts even while its database is down, with `/livez` passing
//! and `/readyz` failing until the database answers.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use readiness_axum::core::{checks, CheckOutcome, CheckSpec, Readiness};
use serde::{Deserialize, Serialize};

/// Items above this count make the store check warn: a stand-in for a real limit.
const STORE_SOFT_LIMIT: usize = 10_000;

#[derive(Clone, Default)]
struct Store(Arc<RwLock<BTreeMap<u64, Item>>>);

#[derive(Clone, Serialize)]
struct Item {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct NewItem {
    name: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt().with_ansi(ansi).init();

    let store = Store::default();
    let probe = store.clone();
    let mut builder = Readiness::builder()
        .service("axum-service", env!("CARGO_PKG_VERSION"))
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
        .check(database()?.name("db"));
    if let Ok(url) = std::env::var("REDIS_URL") {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new().set_number_of_retries(1);
        let cache = redis::aio::ConnectionManager::new_lazy_with_config(client, config)?;
        builder = builder.check(checks::redis(cache).name("cache").non_critical());
    }
    let readiness = builder.build()?;

    let app = Router::new()
        .route("/items", get(list_items).post(create_item))
        .route("/items/{id}", get(get_item))
        .with_state(store);
    // Health routes, /metrics, and RED metrics for every route above.
    let app = readiness_axum::instrument(app, &readiness);

    let addr = format!(
        "{}:{}",
        std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1".into()),
        std::env::var("PORT").unwrap_or_else(|_| "8080".into())
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal(readiness))
        .await?;
    Ok(())
}

/// PostgreSQL when `DATABASE_URL` is set, else an in-memory SQLite database.
fn database() -> Result<CheckSpec, sqlx::Error> {
    Ok(match std::env::var("DATABASE_URL") {
        Ok(url) => checks::postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .connect_lazy(&url)?,
        ),
        Err(_) => checks::sqlite(sqlx::SqlitePool::connect_lazy("sqlite::memory:")?),
    })
}

async fn list_items(State(store): State<Store>) -> Json<Vec<Item>> {
    let items = store.0.read().unwrap_or_else(|e| e.into_inner());
    Json(items.values().cloned().collect())
}

async fn get_item(
    State(store): State<Store>,
    Path(id): Path<u64>,
) -> Result<Json<Item>, StatusCode> {
    let items = store.0.read().unwrap_or_else(|e| e.into_inner());
    items
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn create_item(
    State(store): State<Store>,
    Json(new): Json<NewItem>,
) -> (StatusCode, Json<Item>) {
    let mut items = store.0.write().unwrap_or_else(|e| e.into_inner());
    let id = items.keys().next_back().map_or(1, |last| last + 1);
    let item = Item { id, name: new.name };
    items.insert(id, item.clone());
    (StatusCode::CREATED, Json(item))
}

/// SIGINT or SIGTERM: fail readiness, then let axum finish in-flight requests.
async fn shutdown_signal(readiness: Readiness) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    readiness.mark_unready("shutting down");
    tracing::info!("shutting down");
}
