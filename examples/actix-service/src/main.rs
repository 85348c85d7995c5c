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

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use readiness_actix::core::{checks, CheckOutcome, Readiness};
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

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt().with_ansi(ansi).init();

    let store = Store::default();
    let probe = store.clone();
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
        .build()?;

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
            .route("/items", web::get().to(list_items))
            .route("/items", web::post().to(create_item))
            .route("/items/{id}", web::get().to(get_item))
            .configure(health.clone())
    })
    .bind((bind.as_str(), port))?;
    for addr in server.addrs() {
        tracing::info!(address = %addr, "listening");
    }
    server.run().await?;
    readiness.mark_unready("shutting down");
    Ok(())
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

async fn create_item(store: web::Data<Store>, new: web::Json<NewItem>) -> HttpResponse {
    let mut items = store.0.write().unwrap_or_else(|e| e.into_inner());
    let id = items.keys().next_back().map_or(1, |last| last + 1);
    let item = Item {
        id,
        name: new.into_inner().name,
    };
    items.insert(id, item.clone());
    HttpResponse::Created().json(item)
}
