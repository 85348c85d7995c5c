//! The item store: SQLite (in memory unless `DATABASE_URL` names a file) or
//! PostgreSQL (`DATABASE_URL=postgres://...`), with a Redis read-through cache for
//! single items when `REDIS_URL` is set. Framework-free: the same file serves the
//! axum and the actix-web example.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::readiness::checks;
use crate::readiness::metrics::CacheMetrics;
use crate::readiness::{CheckOutcome, CheckSpec, Readiness};

/// Rows above this count make the `items` check warn: a stand-in for a real limit.
const SOFT_LIMIT: i64 = 10_000;
/// How long a cached item stays in Redis.
const CACHE_SECONDS: u64 = 60;

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Debug)]
pub struct Item {
    pub id: i64,
    pub name: String,
}

#[derive(Clone)]
enum Pool {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// Cheap to clone: pools and the cache connection are shared.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    cache: Option<Arc<Cache>>,
}

struct Cache {
    redis: redis::aio::ConnectionManager,
    /// Set once the service's `Readiness` exists (see [`Store::count_cache_in`]).
    metrics: std::sync::OnceLock<CacheMetrics>,
}

/// A query failed: the database (or the network to it) is the problem, not the
/// request.
#[derive(Debug)]
pub struct Unavailable(pub sqlx::Error);

impl Store {
    /// Pools that connect lazily, so the service starts while its database is down
    /// (`/livez` passes, `/readyz` fails until the `db` check does).
    pub fn from_env() -> Result<Self, Box<dyn std::error::Error>> {
        let pool = match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect_lazy(&url)?,
            ),
            Ok(url) => Pool::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_lazy(&url)?,
            ),
            // One connection kept open forever: an in-memory database lives as long
            // as its connection.
            Err(_) => Pool::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_lazy("sqlite::memory:")?,
            ),
        };
        // The cache, when `REDIS_URL` is set: lazy too, one retry, 500 ms per answer.
        let cache = match std::env::var("REDIS_URL") {
            Ok(url) => {
                let client = redis::Client::open(url)?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_number_of_retries(1)
                    .set_response_timeout(Some(Duration::from_millis(500)));
                Some(Arc::new(Cache {
                    redis: redis::aio::ConnectionManager::new_lazy_with_config(client, config)?,
                    metrics: std::sync::OnceLock::new(),
                }))
            }
            Err(_) => None,
        };
        Ok(Self { pool, cache })
    }

    /// Counts cache hits and misses in `cache_requests_total{cache="items"}`.
    pub fn count_cache_in(&self, readiness: &Readiness) {
        if let Some(cache) = &self.cache {
            let _ = cache.metrics.set(readiness.cache("items"));
        }
    }

    /// The checks of the store: `db` (critical), `cache` (non-critical, when
    /// there is one) and `items` (warns above the soft limit).
    pub fn checks(&self) -> Vec<CheckSpec> {
        let mut specs = vec![match &self.pool {
            Pool::Postgres(pool) => checks::postgres(pool.clone()).name("db"),
            Pool::Sqlite(pool) => checks::sqlite(pool.clone()).name("db"),
        }];
        if let Some(cache) = &self.cache {
            specs.push(
                checks::redis(cache.redis.clone())
                    .name("cache")
                    .non_critical(),
            );
        }
        let store = self.clone();
        specs.push(
            checks::from_fn("items", move || {
                let store = store.clone();
                async move {
                    match store.count().await {
                        Ok(rows) if rows > SOFT_LIMIT => {
                            CheckOutcome::warn(format!("{rows} items, above the soft limit"))
                        }
                        Ok(_) => CheckOutcome::pass(),
                        Err(Unavailable(error)) => CheckOutcome::fail(error.to_string()),
                    }
                }
            })
            .non_critical()
            .interval(Duration::from_secs(30)),
        );
        specs
    }

    /// Creates the table if it is missing; retried in the background until the
    /// database answers.
    pub async fn migrate(&self) -> Result<(), Unavailable> {
        let result = match &self.pool {
            Pool::Postgres(pool) => sqlx::query(
                "CREATE TABLE IF NOT EXISTS items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)",
            )
            .execute(pool)
            .await
            .map(drop),
            Pool::Sqlite(pool) => sqlx::query(
                "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)",
            )
            .execute(pool)
            .await
            .map(drop),
        };
        result.map_err(Unavailable)
    }

    /// Runs [`migrate`](Self::migrate) now, and again every 2 s in the background
    /// while it fails.
    pub async fn migrate_in_background(&self) {
        if self.migrate().await.is_ok() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                match store.migrate().await {
                    Ok(()) => {
                        tracing::info!("items table ready");
                        return;
                    }
                    Err(Unavailable(error)) => {
                        tracing::warn!(error = %error, "database not ready; retrying in 2 s");
                    }
                }
            }
        });
    }

    /// The first 1,000 items, oldest first.
    pub async fn list(&self) -> Result<Vec<Item>, Unavailable> {
        let rows: Vec<(i64, String)> = match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query_as("SELECT id, name FROM items ORDER BY id LIMIT 1000")
                    .fetch_all(pool)
                    .await
            }
            Pool::Sqlite(pool) => {
                sqlx::query_as("SELECT id, name FROM items ORDER BY id LIMIT 1000")
                    .fetch_all(pool)
                    .await
            }
        }
        .map_err(Unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| Item { id, name })
            .collect())
    }

    /// One item: from the cache when it holds it, else from the database (and
    /// then cached).
    pub async fn get(&self, id: i64) -> Result<Option<Item>, Unavailable> {
        let key = format!("item:{id}");
        if let Some(cache) = &self.cache {
            let mut redis = cache.redis.clone();
            let cached: redis::RedisResult<Option<String>> =
                redis::cmd("GET").arg(&key).query_async(&mut redis).await;
            if let Ok(Some(json)) = &cached {
                if let Ok(item) = serde_json::from_str(json) {
                    if let Some(metrics) = cache.metrics.get() {
                        metrics.hit();
                    }
                    return Ok(Some(item));
                }
            }
            if let Some(metrics) = cache.metrics.get() {
                metrics.miss();
            }
        }
        let row: Option<(i64, String)> = match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query_as("SELECT id, name FROM items WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
            Pool::Sqlite(pool) => {
                sqlx::query_as("SELECT id, name FROM items WHERE id = ?")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
        }
        .map_err(Unavailable)?;
        let item = row.map(|(id, name)| Item { id, name });
        if let (Some(cache), Some(item)) = (&self.cache, &item) {
            let mut redis = cache.redis.clone();
            if let Ok(json) = serde_json::to_string(item) {
                // A cache that is down costs a miss, never the request.
                let _: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(&key)
                    .arg(json)
                    .arg("EX")
                    .arg(CACHE_SECONDS)
                    .query_async(&mut redis)
                    .await;
            }
        }
        Ok(item)
    }

    /// Adds an item, and keeps it only if `confirm` (recording the audit event, say)
    /// succeeds: otherwise the insert is rolled back and `confirm`'s error returned.
    pub async fn create_then<E, F>(
        &self,
        name: &str,
        confirm: impl FnOnce(&Item) -> F,
    ) -> Result<Result<Item, E>, Unavailable>
    where
        F: std::future::Future<Output = Result<(), E>>,
    {
        macro_rules! in_transaction {
            ($pool:expr, $insert:expr) => {{
                let mut tx = $pool.begin().await.map_err(Unavailable)?;
                let (id, name): (i64, String) = sqlx::query_as($insert)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(Unavailable)?;
                let item = Item { id, name };
                match confirm(&item).await {
                    Ok(()) => {
                        tx.commit().await.map_err(Unavailable)?;
                        Ok(Ok(item))
                    }
                    Err(error) => {
                        tx.rollback().await.map_err(Unavailable)?;
                        Ok(Err(error))
                    }
                }
            }};
        }
        match &self.pool {
            Pool::Postgres(pool) => in_transaction!(
                pool,
                "INSERT INTO items (name) VALUES ($1) RETURNING id, name"
            ),
            Pool::Sqlite(pool) => in_transaction!(
                pool,
                "INSERT INTO items (name) VALUES (?) RETURNING id, name"
            ),
        }
    }

    /// The PostgreSQL database's URL when the items live there (the audit trail
    /// can go to a table beside them).
    pub fn postgres_url() -> Option<String> {
        std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| url.starts_with("postgres"))
    }

    async fn count(&self) -> Result<i64, Unavailable> {
        let (rows,): (i64,) = match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query_as("SELECT COUNT(*) FROM items")
                    .fetch_one(pool)
                    .await
            }
            Pool::Sqlite(pool) => {
                sqlx::query_as("SELECT COUNT(*) FROM items")
                    .fetch_one(pool)
                    .await
            }
        }
        .map_err(Unavailable)?;
        Ok(rows)
    }

    /// Closes the pool's connections (a shutdown hook).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }
}
